"""Overall uncertainty: stop when the model is sure of the items it could still query."""

from __future__ import annotations

from collections.abc import Callable
from numbers import Real
from typing import Any

import torch
from torch import Tensor

from energizer.acquisition import entropy, least_confidence, margin
from energizer.errors import InvalidArgumentError
from energizer.loop.checks import check_count
from energizer.results import StopReason
from energizer.stopping.base import RoundEvidence, Stop, StoppingCriterion

__all__ = ["OverallUncertainty"]

_MEASURES: dict[str, Callable[[Tensor], Tensor]] = {
    "entropy": entropy,
    "least_confidence": least_confidence,
    "margin": margin,
}


class OverallUncertainty(StoppingCriterion):
    """Stop when the mean uncertainty of the unlabelled stop-set items falls below a threshold.

    Zhu, Wang and Hovy (2008), "Multi-criteria-based strategy to stop active
    learning for data annotation", COLING, stop when the unlabelled items
    are, on average, no longer uncertain. Here the mean runs over the
    stop-set items that are still unlabelled, a fixed random sample of the
    pool, so that the cost of a round does not grow with the pool.

    Args:
        threshold: Mean uncertainty below which the run stops, a number
            >= 0, in the unit of ``measure``: nats for ``"entropy"``
            (at most ``log C``), a probability share for the other two
            (at most 1).
        measure: ``"entropy"``, ``"least_confidence"`` or ``"margin"``, the
            functions of :mod:`energizer.acquisition` of the same names.
        stop_set_size: Pool items in the stop set, drawn at random from the
            first round's pool.
    """

    needs_stop_set = True

    def __init__(self, threshold: float, measure: str = "entropy", stop_set_size: int = 2000) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, Real) or not threshold >= 0:
            raise InvalidArgumentError(
                "threshold", "a number >= 0 in the unit of the measure", repr(threshold), "Pass e.g. threshold=0.1."
            )
        if measure not in _MEASURES:
            raise InvalidArgumentError(
                "measure", f"one of {', '.join(map(repr, _MEASURES))}", repr(measure), "Pass e.g. measure='entropy'."
            )
        self.threshold = float(threshold)
        self.measure = measure
        self.stop_set_size = check_count("stop_set_size", stop_set_size)
        self.history: list[float] = []

    def update(self, evidence: RoundEvidence) -> Stop | None:
        if evidence.stop_set_probabilities is None:
            raise InvalidArgumentError(
                "evidence",
                "stop-set predictions, which OverallUncertainty reads",
                "a round without them",
                "Pass the criterion to Trainer.active_fit(stopping=[...]), which predicts on the stop set.",
            )
        unlabelled = torch.from_numpy(evidence.stop_set_unlabelled)
        if not bool(unlabelled.any()):
            return None
        # The acquisition functions take logits, and log-probabilities are logits.
        logits = evidence.stop_set_probabilities[unlabelled].clamp_min(1e-30).log()
        mean = float(_MEASURES[self.measure](logits).double().mean())
        self.history.append(mean)
        if mean < self.threshold:
            return Stop(
                StopReason.LOW_UNCERTAINTY,
                f"Stopped: the mean {self.measure} of {int(unlabelled.sum())} unlabelled stop-set items "
                f"is {mean:.4g}, below threshold={self.threshold}.",
            )
        return None

    def reset(self) -> None:
        self.history = []

    def state_dict(self) -> dict[str, Any]:
        return {"history": list(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.history = [float(value) for value in state["history"]]

    def settings(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "measure": self.measure, "stop_set_size": self.stop_set_size}
