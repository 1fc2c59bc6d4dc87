"""No improvement: stop when a validation metric has not improved for a number of rounds."""

from __future__ import annotations

import math
from numbers import Real
from typing import Any, Literal

from energizer.errors import InvalidArgumentError
from energizer.loop.checks import check_count
from energizer.results import StopReason
from energizer.stopping.base import RoundEvidence, Stop, StoppingCriterion

__all__ = ["NoImprovement"]


class NoImprovement(StoppingCriterion):
    """Stop when ``monitor`` has not improved on its best value for ``patience`` rounds.

    A round improves when its value beats the best of the earlier rounds by
    more than ``min_delta`` (higher with ``mode="max"``, lower with
    ``mode="min"``). The run stops after ``patience`` rounds in a row without
    an improvement, so the first possible stop is after ``patience + 1``
    rounds. Like Lightning's ``EarlyStopping``, but across rounds instead of
    epochs.

    Args:
        monitor: Name of a metric the model logs, looked up first among the
            values logged during the round's fit (validation metrics such as
            ``val_accuracy``), then among the test metrics.
        patience: Rounds without improvement before the run stops, at least 1.
        mode: ``"max"`` for metrics where higher is better, ``"min"`` for
            losses.
        min_delta: Smallest change that counts as an improvement, >= 0.
    """

    def __init__(
        self, monitor: str = "val_accuracy", patience: int = 3, mode: Literal["max", "min"] = "max", min_delta: float = 0.0
    ) -> None:
        if not isinstance(monitor, str) or not monitor:
            raise InvalidArgumentError("monitor", "a metric name", repr(monitor), "Pass e.g. monitor='val_accuracy'.")
        if mode not in ("max", "min"):
            raise InvalidArgumentError("mode", "'max' or 'min'", repr(mode), "Pass mode='max' for accuracies, 'min' for losses.")
        if isinstance(min_delta, bool) or not isinstance(min_delta, Real) or not min_delta >= 0:
            raise InvalidArgumentError("min_delta", "a number >= 0", repr(min_delta), "Pass e.g. min_delta=0.001.")
        self.monitor = monitor
        self.patience = check_count("patience", patience)
        self.mode = mode
        self.min_delta = float(min_delta)
        self.best: float | None = None
        self.rounds_without_improvement = 0

    def update(self, evidence: RoundEvidence) -> Stop | None:
        value = evidence.validation_metrics.get(self.monitor, evidence.test_metrics.get(self.monitor))
        if value is None or not math.isfinite(value):
            known = sorted({*evidence.validation_metrics, *evidence.test_metrics})
            raise InvalidArgumentError(
                "monitor",
                f"a metric the model logs, one of {known}" if known else "a metric the model logs",
                repr(self.monitor) if value is None else f"{self.monitor!r} with the value {value}",
                "Log it with self.log in validation_step or test_step, or monitor another metric.",
            )
        sign = 1.0 if self.mode == "max" else -1.0
        if self.best is None or sign * (value - self.best) > self.min_delta:
            self.best = float(value)
            self.rounds_without_improvement = 0
            return None
        self.rounds_without_improvement += 1
        if self.rounds_without_improvement >= self.patience:
            return Stop(
                StopReason.NO_IMPROVEMENT,
                f"Stopped: {self.monitor} has not improved on its best value {self.best:.4g} by more "
                f"than min_delta={self.min_delta} for {self.patience} rounds.",
            )
        return None

    def reset(self) -> None:
        self.best = None
        self.rounds_without_improvement = 0

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "rounds_without_improvement": self.rounds_without_improvement}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best = None if state["best"] is None else float(state["best"])
        self.rounds_without_improvement = int(state["rounds_without_improvement"])

    def settings(self) -> dict[str, Any]:
        return {"monitor": self.monitor, "patience": self.patience, "mode": self.mode, "min_delta": self.min_delta}
