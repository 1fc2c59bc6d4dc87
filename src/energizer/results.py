"""Per-round records of an active learning run and the reason it stopped."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["StopReason", "RoundResult", "ActiveFitResults"]


class StopReason(str, Enum):
    """Reason that ``Trainer.active_fit`` stopped."""

    MAX_ROUNDS = "max_rounds"
    """The run completed ``max_rounds`` rounds."""

    MAX_BUDGET = "max_budget"
    """The number of labelled items reached ``max_budget``."""

    POOL_EXHAUSTED = "pool_exhausted"
    """Every item is labelled, so there is nothing left to query."""

    STABLE_PREDICTIONS = "stable_predictions"
    """Successive models agreed on the stop set (:class:`~energizer.stopping.StabilizingPredictions`)."""

    LOW_UNCERTAINTY = "low_uncertainty"
    """The unlabelled stop-set items were no longer uncertain (:class:`~energizer.stopping.OverallUncertainty`)."""

    NO_IMPROVEMENT = "no_improvement"
    """A monitored metric stopped improving (:class:`~energizer.stopping.NoImprovement`)."""

    CRITERION = "criterion"
    """A user-defined :class:`~energizer.stopping.StoppingCriterion` fired."""


@dataclass(frozen=True)
class RoundResult:
    """Record of one round.

    Attributes:
        round: Round index; round 0 trains on the initial labels.
        num_labelled: Labelled items when the round trained, validation
            hold-out included.
        num_train: Labelled items the model trained on.
        num_val: Labelled items held out for validation.
        metrics: Test metrics the model logged in ``test_step``, by name.
            Empty when the data module has no test set.
        fit_seconds: Wall time of the round's ``fit``.
        test_seconds: Wall time of the round's ``test``.
        query_seconds: Wall time of scoring the pool and choosing ids.
        queried_ids: Dataset ids labelled at the end of the round, in the
            order the strategy ranked them. Empty in the last round.
    """

    round: int
    num_labelled: int
    num_train: int
    num_val: int
    metrics: dict[str, float]
    fit_seconds: float
    test_seconds: float
    query_seconds: float
    queried_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    def to_dict(self) -> dict[str, Any]:
        """Return the round as a flat dict: counts, each metric, timings and the queried ids."""
        return {
            "round": self.round,
            "num_labelled": self.num_labelled,
            "num_train": self.num_train,
            "num_val": self.num_val,
            **self.metrics,
            "fit_seconds": self.fit_seconds,
            "test_seconds": self.test_seconds,
            "query_seconds": self.query_seconds,
            "num_queried": int(self.queried_ids.size),
            "queried_ids": [int(i) for i in self.queried_ids],
        }

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> RoundResult:
        """Rebuild a record from :meth:`to_dict`: keys that are not fields are the metrics."""
        fields = {"round", "num_labelled", "num_train", "num_val", "fit_seconds", "test_seconds", "query_seconds"}
        metrics = {
            name: float(value)
            for name, value in values.items()
            if name not in fields and name not in ("num_queried", "queried_ids")
        }
        return cls(
            round=int(values["round"]),
            num_labelled=int(values["num_labelled"]),
            num_train=int(values["num_train"]),
            num_val=int(values["num_val"]),
            metrics=metrics,
            fit_seconds=float(values["fit_seconds"]),
            test_seconds=float(values["test_seconds"]),
            query_seconds=float(values["query_seconds"]),
            queried_ids=np.asarray(values["queried_ids"], dtype=np.int64),
        )


@dataclass
class ActiveFitResults:
    """The rounds of one ``active_fit`` call and why it stopped.

    Attributes:
        strategy: Class name of the query strategy.
        rounds: One record per completed round, in order.
        stop_reason: Why the run stopped; ``None`` while it runs.
        stop_message: The stop reason in words, with the numbers behind it.
    """

    strategy: str
    rounds: list[RoundResult] = field(default_factory=list)
    stop_reason: StopReason | None = None
    stop_message: str = ""

    def __len__(self) -> int:
        return len(self.rounds)

    def __iter__(self) -> Iterator[RoundResult]:
        return iter(self.rounds)

    def __getitem__(self, index: int) -> RoundResult:
        return self.rounds[index]

    def to_pandas(self) -> pd.DataFrame:
        """Return one row per round, with the columns of :meth:`RoundResult.to_dict`."""
        return pd.DataFrame([record.to_dict() for record in self.rounds])

    def to_csv(self, path: str | Path) -> None:
        """Write :meth:`to_pandas` to ``path``; queried ids become space-separated strings."""
        Path(path).write_text(self.to_csv_text())

    def to_csv_text(self) -> str:
        """Return :meth:`to_pandas` as CSV text, with the queried ids as space-separated strings."""
        frame = self.to_pandas()
        if "queried_ids" in frame:
            frame["queried_ids"] = frame["queried_ids"].map(lambda ids: " ".join(map(str, ids)))
        return frame.to_csv(index=False)

    def to_json(self, path: str | Path) -> None:
        """Write the rounds, the stop reason and its message to ``path`` as JSON."""
        Path(path).write_text(json.dumps(self.to_document(), indent=2))

    def to_document(self) -> dict[str, Any]:
        """Return the strategy name, the stop reason, its message and the rounds as JSON values."""
        return {
            "strategy": self.strategy,
            "stop_reason": self.stop_reason.value if self.stop_reason else None,
            "stop_message": self.stop_message,
            "rounds": [record.to_dict() for record in self.rounds],
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> ActiveFitResults:
        """Rebuild the results from :meth:`to_document`."""
        reason = document.get("stop_reason")
        return cls(
            strategy=document["strategy"],
            rounds=[RoundResult.from_dict(values) for values in document["rounds"]],
            stop_reason=StopReason(reason) if reason else None,
            stop_message=document.get("stop_message", ""),
        )
