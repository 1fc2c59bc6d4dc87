"""The stopping criterion: a rule that ends ``active_fit`` after a round, with a recorded reason."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor

from energizer.results import StopReason

__all__ = ["RoundEvidence", "Stop", "StoppingCriterion"]


@dataclass(frozen=True)
class RoundEvidence:
    """The evidence of one round, for the criteria to judge after its test.

    Attributes:
        round: Index of the round that just trained and tested.
        rounds_done: Rounds completed in this run, this one included.
        num_labelled: Labelled items the round trained on.
        pool_size: Unlabelled items left.
        validation_metrics: Last values the model logged during the round's
            fit (``trainer.callback_metrics``), by name, for example
            ``val_accuracy``.
        test_metrics: Metrics of the round's test, by name.
        stop_set_ids: Dataset ids of the stop set, sorted; empty when no
            criterion asked for one.
        stop_set_probabilities: The round's class probabilities on the stop
            set, shape ``(len(stop_set_ids), C)``, aligned with
            ``stop_set_ids``; ``None`` without a stop set.
        stop_set_unlabelled: Mask of the stop-set items still unlabelled.
    """

    round: int
    rounds_done: int
    num_labelled: int
    pool_size: int
    validation_metrics: dict[str, float] = field(default_factory=dict)
    test_metrics: dict[str, float] = field(default_factory=dict)
    stop_set_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    stop_set_probabilities: Tensor | None = None
    stop_set_unlabelled: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))


@dataclass(frozen=True)
class Stop:
    """A criterion's decision to stop: the reason and a message with the numbers behind it."""

    reason: StopReason
    message: str


class StoppingCriterion(ABC):
    """Base class of the stopping criteria.

    ``Trainer.active_fit(stopping=[...])`` calls :meth:`update` on every
    criterion after each round's test, in order, and stops at the first one
    that returns a :class:`Stop`. Criteria keep what they need from earlier
    rounds (for example the previous predictions) and save it in
    :meth:`state_dict`, so a resumed run decides as the interrupted one would.

    Class attributes:
        needs_stop_set: Whether the criterion reads the stop-set
            predictions. ``Trainer`` then fixes a stop set of
            :attr:`stop_set_size` pool items in the first round and
            predicts on it after each round's test.
    """

    needs_stop_set: bool = False
    stop_set_size: int = 0

    @abstractmethod
    def update(self, evidence: RoundEvidence) -> Stop | None:
        """Take in one round's evidence and return a :class:`Stop` to end the run, or ``None``."""

    def reset(self) -> None:
        """Forget earlier rounds. ``active_fit`` calls it when a new run starts, so one
        criterion object can serve several runs."""

    def state_dict(self) -> dict[str, Any]:
        """Return what the criterion kept from earlier rounds, as JSON-serialisable values."""
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore a state returned by :meth:`state_dict`."""

    def __repr__(self) -> str:
        settings = ", ".join(f"{name}={value!r}" for name, value in self.settings().items())
        return f"{type(self).__name__}({settings})"

    def settings(self) -> dict[str, Any]:
        """Return the criterion's parameters by name, for its repr and a run's saved configuration."""
        return {}
