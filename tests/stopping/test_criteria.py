"""Each stopping criterion fires at the round worked out by hand on constructed evidence."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import cohen_kappa_score

from energizer.errors import InvalidArgumentError
from energizer.results import StopReason
from energizer.stopping import (
    LabelBudget,
    MaxRounds,
    NoImprovement,
    OverallUncertainty,
    RoundEvidence,
    StabilizingPredictions,
    cohen_kappa,
)


def evidence(round_index: int, **kwargs) -> RoundEvidence:
    values = {"round": round_index, "rounds_done": round_index + 1, "num_labelled": 10, "pool_size": 90}
    values.update(kwargs)
    return RoundEvidence(**values)


def one_hot(classes: list[int], num_classes: int = 3, confidence: float = 0.9) -> torch.Tensor:
    rest = (1 - confidence) / (num_classes - 1)
    probabilities = torch.full((len(classes), num_classes), rest)
    probabilities[torch.arange(len(classes)), torch.tensor(classes)] = confidence
    return probabilities


def first_stop(criterion, rounds: list[RoundEvidence]) -> int | None:
    """Return the round at which ``criterion`` first fires, or None."""
    for item in rounds:
        if criterion.update(item) is not None:
            return item.round
    return None


def test_kappa_by_hand():
    # p_o = 3/4; class shares (1/2, 1/2) and (1/4, 3/4), so p_e = 1/8 + 3/8 = 1/2.
    assert cohen_kappa(np.array([0, 0, 1, 1]), np.array([0, 1, 1, 1])) == pytest.approx(0.5)
    assert cohen_kappa(np.array([2, 2, 2]), np.array([2, 2, 2])) == 1.0
    assert cohen_kappa(np.array([0, 1]), np.array([1, 0])) == pytest.approx(-1.0)


def test_kappa_matches_scikit_learn():
    generator = np.random.default_rng(0)
    for _ in range(20):
        first, second = generator.integers(0, 4, 50), generator.integers(0, 4, 50)
        second[:30] = first[:30]
        assert cohen_kappa(first, second) == pytest.approx(cohen_kappa_score(first, second))


def test_kappa_rejects_mismatched_lengths():
    with pytest.raises(InvalidArgumentError, match=r"received shapes \(3,\) and \(2,\)"):
        cohen_kappa(np.array([0, 1, 2]), np.array([0, 1]))


def test_stabilizing_fires_when_window_mean_reaches_threshold():
    # Round 0: A. Round 1: B, kappa(A, B) = 0.5 by hand (same labels as test_kappa_by_hand).
    # Round 2: B again, kappa 1, mean of last two = 0.75 < 0.9. Round 3: B, mean 1.0 -> stop.
    first, second = [0, 0, 1, 1], [0, 1, 1, 1]
    rounds = [
        evidence(0, stop_set_probabilities=one_hot(first)),
        evidence(1, stop_set_probabilities=one_hot(second)),
        evidence(2, stop_set_probabilities=one_hot(second)),
        evidence(3, stop_set_probabilities=one_hot(second)),
    ]
    criterion = StabilizingPredictions(threshold=0.9, window=2, stop_set_size=4)

    assert first_stop(criterion, rounds) == 3
    assert criterion.kappas == pytest.approx([0.5, 1.0, 1.0])


def test_stabilizing_lower_threshold_stops_earlier():
    first, second = [0, 0, 1, 1], [0, 1, 1, 1]
    rounds = [evidence(index, stop_set_probabilities=one_hot(labels)) for index, labels in enumerate([first, second, second])]

    assert first_stop(StabilizingPredictions(threshold=0.75, window=2), rounds) == 2
    assert first_stop(StabilizingPredictions(threshold=0.5, window=1), list(rounds)) == 1


def test_stabilizing_message_names_kappa():
    rounds = [evidence(index, stop_set_probabilities=one_hot([0, 1, 2])) for index in range(2)]
    criterion = StabilizingPredictions(window=1)
    criterion.update(rounds[0])

    stop = criterion.update(rounds[1])

    assert stop.reason is StopReason.STABLE_PREDICTIONS
    assert "mean Cohen's kappa of the last 1 successive models on 3 stop-set items is 1.0000" in stop.message


def entropy_of(confidence: float, num_classes: int = 3) -> float:
    rest = (1 - confidence) / (num_classes - 1)
    return -(confidence * math.log(confidence) + (num_classes - 1) * rest * math.log(rest))


def test_overall_uncertainty_fires_below_threshold():
    # Mean entropy falls as the model grows confident: 0.4, 0.6, 0.8, 0.95.
    confidences = [0.4, 0.6, 0.8, 0.95]
    threshold = (entropy_of(0.8) + entropy_of(0.6)) / 2
    unlabelled = np.ones(4, dtype=bool)
    rounds = [
        evidence(index, stop_set_probabilities=one_hot([0, 1, 2, 0], confidence=value), stop_set_unlabelled=unlabelled)
        for index, value in enumerate(confidences)
    ]
    criterion = OverallUncertainty(threshold=threshold)

    assert first_stop(criterion, rounds) == 2
    assert criterion.history == pytest.approx([entropy_of(0.4), entropy_of(0.6), entropy_of(0.8)], rel=1e-5)


def test_overall_uncertainty_ignores_labelled_items():
    probabilities = torch.cat([one_hot([0], confidence=0.99), one_hot([1], confidence=0.34)])
    only_confident_unlabelled = np.array([True, False])
    criterion = OverallUncertainty(threshold=0.1)

    stop = criterion.update(evidence(0, stop_set_probabilities=probabilities, stop_set_unlabelled=only_confident_unlabelled))

    assert stop.reason is StopReason.LOW_UNCERTAINTY
    assert "mean entropy of 1 unlabelled stop-set items" in stop.message


@pytest.mark.parametrize(
    ("measure", "expected"),
    [("least_confidence", 0.2), ("margin", 0.3)],
)
def test_overall_uncertainty_other_measures(measure, expected):
    # Confidence 0.8 over 3 classes: least confidence 1 - 0.8, margin 1 - (0.8 - 0.1).
    criterion = OverallUncertainty(threshold=1.0, measure=measure)

    criterion.update(evidence(0, stop_set_probabilities=one_hot([0, 2], confidence=0.8), stop_set_unlabelled=np.ones(2, bool)))

    assert criterion.history == pytest.approx([expected], rel=1e-5)


def test_no_improvement_fires_after_patience():
    # Best 0.6 at round 1; rounds 2 (0.6) and 3 (0.59) bring nothing: stop at round 3.
    values = [0.5, 0.6, 0.6, 0.59, 0.65]
    rounds = [evidence(index, validation_metrics={"val_accuracy": value}) for index, value in enumerate(values)]
    criterion = NoImprovement(patience=2)

    assert first_stop(criterion, rounds) == 3
    assert criterion.best == 0.6


def test_no_improvement_min_delta_and_min_mode():
    # Losses 1.0, 0.95, 0.94, 0.935: with min_delta 0.02 only 0.95 counts as a gain.
    values = [1.0, 0.95, 0.94, 0.935]
    rounds = [evidence(index, test_metrics={"test_loss": value}) for index, value in enumerate(values)]

    assert first_stop(NoImprovement("test_loss", patience=2, mode="min", min_delta=0.02), rounds) == 3
    assert first_stop(NoImprovement("test_loss", patience=2, mode="min"), list(rounds)) is None


def test_no_improvement_prefers_validation_metric():
    criterion = NoImprovement("accuracy", patience=1)
    criterion.update(evidence(0, validation_metrics={"accuracy": 0.5}, test_metrics={"accuracy": 0.9}))

    assert criterion.best == 0.5


def test_no_improvement_names_known_metrics():
    criterion = NoImprovement("val_f1")

    with pytest.raises(InvalidArgumentError, match=r"one of \['test_accuracy', 'val_loss'\], received 'val_f1'"):
        criterion.update(evidence(0, validation_metrics={"val_loss": 1.0}, test_metrics={"test_accuracy": 0.5}))


def test_limits_fire_at_their_round():
    rounds = [evidence(index, num_labelled=10 + 5 * index) for index in range(6)]

    assert first_stop(MaxRounds(3), rounds) == 2
    assert first_stop(LabelBudget(25), list(rounds)) == 3


@pytest.mark.parametrize(
    "make",
    [
        lambda: StabilizingPredictions(threshold=0.9, window=2),
        lambda: OverallUncertainty(threshold=0.3),
        lambda: NoImprovement(patience=2),
    ],
    ids=["stabilizing", "uncertainty", "no-improvement"],
)
def test_state_round_trip_decides_the_same(make):
    confidences = [0.4, 0.6, 0.8, 0.9, 0.9]
    labels = [[0, 1, 2, 0], [0, 1, 2, 1], [0, 1, 2, 1], [0, 1, 2, 1], [0, 1, 2, 1]]
    rounds = [
        evidence(
            index,
            stop_set_probabilities=one_hot(labels[index], confidence=confidences[index]),
            stop_set_unlabelled=np.ones(4, bool),
            validation_metrics={"val_accuracy": [0.5, 0.6, 0.6, 0.6, 0.6][index]},
        )
        for index in range(5)
    ]
    original = make()
    decisions = [original.update(item) is not None for item in rounds]
    restored_decisions = []
    for split in range(1, 5):
        first = make()
        for item in rounds[:split]:
            first.update(item)
        second = make()
        second.load_state_dict(first.state_dict())
        restored_decisions.append(second.update(rounds[split]) is not None)

    assert restored_decisions == decisions[1:]


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: StabilizingPredictions(threshold=1.5), "Invalid `threshold`: expected a number in \\(0, 1\\]"),
        (lambda: StabilizingPredictions(window=0), "Invalid `window`: expected an integer >= 1, received 0"),
        (lambda: StabilizingPredictions(stop_set_size=2.5), "Invalid `stop_set_size`"),
        (lambda: OverallUncertainty(threshold=-1), "Invalid `threshold`: expected a number >= 0"),
        (lambda: OverallUncertainty(threshold=0.1, measure="bald"), "Invalid `measure`: expected one of 'entropy'"),
        (lambda: NoImprovement(mode="up"), "Invalid `mode`: expected 'max' or 'min', received 'up'"),
        (lambda: NoImprovement(patience=0), "Invalid `patience`"),
        (lambda: NoImprovement(min_delta=-0.1), "Invalid `min_delta`"),
        (lambda: NoImprovement(monitor=""), "Invalid `monitor`"),
        (lambda: MaxRounds(0), "Invalid `max_rounds`"),
        (lambda: LabelBudget(-5), "Invalid `max_budget`"),
    ],
)
def test_bad_parameters_rejected(make, message):
    with pytest.raises(InvalidArgumentError, match=message):
        make()
