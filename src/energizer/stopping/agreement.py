"""Stabilising predictions: stop when successive models agree on a fixed stop set."""

from __future__ import annotations

from numbers import Real
from typing import Any

import numpy as np

from energizer.errors import InvalidArgumentError
from energizer.loop.checks import check_count
from energizer.results import StopReason
from energizer.stopping.base import RoundEvidence, Stop, StoppingCriterion

__all__ = ["StabilizingPredictions", "cohen_kappa"]


def cohen_kappa(first: np.ndarray, second: np.ndarray) -> float:
    """Return Cohen's kappa between two equal-length arrays of class labels.

    ``(p_o - p_e) / (1 - p_e)``, where ``p_o`` is the share of items with
    the same label and ``p_e`` the share expected by chance from each
    array's class frequencies. When both arrays give every item the same one
    class, ``p_e`` is 1 and the agreement is perfect: the result is 1.
    """
    first, second = np.asarray(first), np.asarray(second)
    if first.shape != second.shape or first.ndim != 1 or first.size == 0:
        raise InvalidArgumentError(
            "labels",
            "two non-empty 1-D arrays of the same length",
            f"shapes {first.shape} and {second.shape}",
            "Pass the two models' predicted classes for the same items.",
        )
    observed = float(np.mean(first == second))
    classes, positions = np.unique(np.concatenate([first, second]), return_inverse=True)
    counts_first = np.bincount(positions[: first.size], minlength=classes.size) / first.size
    counts_second = np.bincount(positions[first.size :], minlength=classes.size) / second.size
    expected = float(np.dot(counts_first, counts_second))
    if expected >= 1.0:
        return 1.0
    return (observed - expected) / (1.0 - expected)


class StabilizingPredictions(StoppingCriterion):
    """Stop when the predictions of successive models on a stop set stop changing.

    Bloodgood and Vijay-Shanker (2009), "A Method for Stopping Active
    Learning Based on Stabilizing Predictions and the Need for
    User-Adjustable Stopping", CoNLL, arXiv:1409.5165. A stop set of pool
    items is fixed in the first round and needs no labels. After each
    round the model predicts a class for every stop-set item, and Cohen's
    kappa (:func:`cohen_kappa`) measures the agreement with the previous
    round's predictions. The run stops when the mean of the last ``window``
    kappas is at least ``threshold``: the first possible stop is therefore
    after ``window + 1`` rounds. A lower threshold stops earlier.

    Args:
        threshold: Mean kappa at which the run stops, in ``(0, 1]``.
        window: Number of most recent kappas averaged, at least 1.
        stop_set_size: Pool items in the stop set, drawn at random with the
            run's seed from the first round's pool, or all of it when it is
            smaller. Items that are queried and labelled later stay in the
            stop set.
    """

    needs_stop_set = True

    def __init__(self, threshold: float = 0.99, window: int = 3, stop_set_size: int = 2000) -> None:
        if isinstance(threshold, bool) or not isinstance(threshold, Real) or not 0 < threshold <= 1:
            raise InvalidArgumentError(
                "threshold", "a number in (0, 1], the mean kappa to stop at", repr(threshold), "Pass e.g. threshold=0.99."
            )
        self.threshold = float(threshold)
        self.window = check_count("window", window)
        self.stop_set_size = check_count("stop_set_size", stop_set_size)
        self._previous: np.ndarray | None = None
        self.kappas: list[float] = []

    def update(self, evidence: RoundEvidence) -> Stop | None:
        if evidence.stop_set_probabilities is None:
            raise InvalidArgumentError(
                "evidence",
                "stop-set predictions, which StabilizingPredictions reads",
                "a round without them",
                "Pass the criterion to Trainer.active_fit(stopping=[...]), which predicts on the stop set.",
            )
        predictions = evidence.stop_set_probabilities.argmax(dim=1).cpu().numpy()
        if self._previous is not None:
            self.kappas.append(cohen_kappa(self._previous, predictions))
        self._previous = predictions
        if len(self.kappas) < self.window:
            return None
        mean = float(np.mean(self.kappas[-self.window :]))
        if mean >= self.threshold:
            return Stop(
                StopReason.STABLE_PREDICTIONS,
                f"Stopped: the mean Cohen's kappa of the last {self.window} successive models on "
                f"{predictions.size} stop-set items is {mean:.4f}, at least threshold={self.threshold}.",
            )
        return None

    def reset(self) -> None:
        self._previous = None
        self.kappas = []

    def state_dict(self) -> dict[str, Any]:
        previous = None if self._previous is None else self._previous.tolist()
        return {"previous": previous, "kappas": list(self.kappas)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._previous = None if state["previous"] is None else np.asarray(state["previous"], dtype=np.int64)
        self.kappas = [float(value) for value in state["kappas"]]

    def settings(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "window": self.window, "stop_set_size": self.stop_set_size}
