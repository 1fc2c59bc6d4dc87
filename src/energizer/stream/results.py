"""Records of a stream run: one row per model update, in the pool loop's columns plus ``num_seen``."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from energizer.results import ActiveFitResults, RoundResult

__all__ = ["StreamResults", "StreamRoundResult", "StreamStopReason"]


class StreamStopReason(str, Enum):
    """Reason that a stream run stopped."""

    STREAM_END = "stream_end"
    """The stream had no more batches."""

    MAX_ITEMS = "max_items"
    """The run saw ``max_items`` items."""


@dataclass(frozen=True)
class StreamRoundResult(RoundResult):
    """Record of one model of a stream run, from the update that trained it to the next update.

    Round 0 is the model as passed in, before any label. Round ``r >= 1`` is
    the model trained at the ``r``-th update. The fields mean what they mean
    for the pool loop, with these readings:

    Attributes:
        num_seen: Items of the stream seen when the model was trained.
        num_labelled: Labelled items the model trained on. ``num_train`` is
            the same and ``num_val`` is 0, since stream runs hold out no
            validation items.
        metrics: Test metrics of the model, by name; empty without a test set.
        fit_seconds: Wall time of the update's ``fit``; 0 in round 0.
        query_seconds: Wall time that the model spent scoring stream items and
            the strategy spent deciding, until the next update.
        queried_ids: Dataset ids that were labelled while this model scored
            the stream, in stream order. The next round trains on them.
    """

    num_seen: int = 0

    def to_dict(self) -> dict[str, Any]:
        """Return the round as a flat dict: the pool loop's columns, with ``num_seen`` after ``round``."""
        values = super().to_dict()
        return {"round": values.pop("round"), "num_seen": self.num_seen, **values}


@dataclass
class StreamResults(ActiveFitResults):
    """The rounds of one stream run and why it stopped.

    Attributes:
        strategy: Class name of the stream strategy.
        rounds: One record per model, in order.
        stop_reason: Why the run stopped; ``None`` while it runs.
        stop_message: The stop reason in words, with the counts.
        num_seen: Items seen by the end of the run.
        num_labelled: Items labelled by the end of the run.
    """

    rounds: list[StreamRoundResult] = field(default_factory=list)
    stop_reason: StreamStopReason | None = None
    num_seen: int = 0
    num_labelled: int = 0
