"""Stream strategies on constructed score sequences: thresholds, steps, random shares and seeds."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from stream_helpers import long_scores, trace

from energizer.acquisition import least_confidence
from energizer.errors import InvalidQueryError
from energizer.stream import (
    CumulativeBudget,
    EstimatedBudget,
    FixedUncertainty,
    RandomStream,
    Split,
    StreamStrategy,
    VariableUncertainty,
    decide_items,
)

# ------------------------------------------------------------- fixed threshold


def test_fixed_queries_scores_above_threshold():
    scores = np.array([0.1, 0.5, 0.6, 0.5000001, 0.9, 0.0, 0.7])
    decisions = decide_items(FixedUncertainty(threshold=0.5), EstimatedBudget(1.0), scores)
    assert decisions.tolist() == [False, False, True, True, True, False, True]


def test_fixed_queries_allowed_items_above_threshold():
    scores = long_scores(5000, seed=1)
    steps = trace(FixedUncertainty(threshold=0.7), EstimatedBudget(0.1), scores)
    expected = steps.allowed & (scores > 0.7)
    assert np.array_equal(steps.queried, expected)
    # The budget binds: some items above the threshold arrived while no label was allowed.
    assert np.any((scores > 0.7) & ~steps.allowed)


def test_fixed_matches_top_class_probability_rule():
    # A threshold θ on the top-class probability p (query when p < θ) is 1 - θ on least confidence.
    logits = (
        torch.randn(2000, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 2
    )
    top_probability = logits.softmax(dim=1).amax(dim=1).numpy()
    theta = 0.6
    decisions = decide_items(
        FixedUncertainty(threshold=1 - theta),
        EstimatedBudget(1.0),
        least_confidence(logits).numpy(),
    )
    assert np.array_equal(decisions, top_probability < theta)


# ---------------------------------------------------------- variable threshold


def test_variable_threshold_moves_by_step():
    step = 0.05
    strategy = VariableUncertainty(initial_threshold=0.5, step=step)
    scores = np.array([0.1, 0.2, 0.9, 0.3, 0.8, 0.8, 0.0])
    steps = trace(strategy, EstimatedBudget(1.0), scores)
    expected = []
    threshold = 0.5
    for score in scores:
        threshold = threshold * (1 + step) if score > threshold else threshold * (1 - step)
        expected.append(threshold)
    assert steps.queried.tolist() == [False, False, True, False, True, True, False]
    assert steps.threshold.tolist() == pytest.approx(expected, rel=1e-15)


def test_variable_threshold_holds_while_budget_spent():
    strategy = VariableUncertainty(initial_threshold=0.5, step=0.1)
    steps = trace(strategy, CumulativeBudget(0.2), np.full(10, 0.9))
    # Labels at items 5 and 10 only; the threshold rises after each and stays put in between.
    assert steps.queried.tolist() == [False] * 4 + [True] + [False] * 4 + [True]
    assert steps.threshold[:4].tolist() == [0.5] * 4
    assert steps.threshold[4] == pytest.approx(0.55)
    assert steps.threshold[5:9].tolist() == [steps.threshold[4]] * 4
    assert steps.threshold[9] == pytest.approx(0.605)


def test_variable_threshold_falls_geometrically_on_quiet_items():
    strategy = VariableUncertainty(initial_threshold=1.0, step=0.01)
    steps = trace(strategy, EstimatedBudget(1.0), np.zeros(300))
    assert not steps.queried.any()
    assert steps.threshold[-1] == pytest.approx(0.99**300, rel=1e-12)


def test_variable_threshold_never_reaches_zero():
    strategy = VariableUncertainty(initial_threshold=1e-300, step=0.5)
    trace(strategy, EstimatedBudget(1.0), np.zeros(100))
    assert strategy.threshold > 0
    assert decide_items(strategy, EstimatedBudget(1.0), np.array([1e-200]))[0]


def test_variable_settles_near_half_of_allowed_items():
    # Documented: the threshold settles where about half of the allowed items are queried.
    scores = np.random.default_rng(2).random(20_000)
    steps = trace(VariableUncertainty(step=0.01), EstimatedBudget(1.0), scores)
    settled = steps.queried[5000:].mean()
    assert abs(settled - 0.5) < 0.02


# ----------------------------------------------------------------------- split

SPLIT_SHARES = [0.1, 0.2, 0.5]


@pytest.mark.parametrize("share", SPLIT_SHARES)
def test_split_random_share_is_binomial(share):
    strategy = Split(random_share=share, seed=3)
    budget = EstimatedBudget(0.1)
    trace(strategy, budget, long_scores(20_000, seed=3))
    labels = budget.num_labelled
    # The kind of each label is Bernoulli(share): allow 4 standard deviations of Binomial(labels, share).
    tolerance = 4 * math.sqrt(labels * share * (1 - share))
    assert labels > 1500
    assert strategy.num_random_labels + strategy.num_uncertainty_labels == labels
    assert abs(strategy.num_random_labels - share * labels) <= tolerance


def test_split_random_labels_ignore_scores():
    strategy = Split(random_share=0.3, seed=4)
    budget = EstimatedBudget(0.1)
    scores = np.random.default_rng(4).random(20_000)
    random_scores, uncertainty_scores = [], []
    for score in scores:
        random_before = strategy.num_random_labels
        query = strategy.decide(float(score), budget)
        budget.record(query)
        if query:
            is_random = strategy.num_random_labels > random_before
            (random_scores if is_random else uncertainty_scores).append(score)
    # Random labels see the stream's scores, uniform on [0, 1): mean 0.5, standard deviation 0.289.
    random_mean = np.mean(random_scores)
    assert abs(random_mean - 0.5) <= 4 * 0.289 / math.sqrt(len(random_scores))
    assert np.mean(uncertainty_scores) > 0.6


# ---------------------------------------------------------------------- random


def test_random_queries_with_probability():
    steps = trace(RandomStream(probability=0.3, seed=5), EstimatedBudget(1.0), np.zeros(20_000))
    share = steps.queried.mean()
    assert abs(share - 0.3) <= 4 * math.sqrt(0.3 * 0.7 / 20_000)


def test_random_draws_do_not_depend_on_budget():
    scores = np.zeros(5000)
    open_budget = trace(RandomStream(probability=0.3, seed=6), EstimatedBudget(1.0), scores)
    tight_budget = trace(RandomStream(probability=0.3, seed=6), EstimatedBudget(0.1), scores)
    assert not np.any(tight_budget.queried & ~open_budget.queried)
    assert tight_budget.queried.sum() < open_budget.queried.sum()


def test_random_defaults_to_budget_probability():
    strategy = RandomStream(seed=7)
    assert not strategy.needs_scores
    decisions = decide_items(strategy, EstimatedBudget(1.0), num_items=100)
    assert decisions.all()


# ------------------------------------------------------------- reproducibility

SEEDED = {
    "split": lambda seed: Split(random_share=0.3, seed=seed),
    "random": lambda seed: RandomStream(seed=seed),
}


@pytest.mark.parametrize("name", list(SEEDED))
def test_same_seed_same_decisions(name):
    scores = long_scores(5000, seed=8)
    first = decide_items(SEEDED[name](11), EstimatedBudget(0.1), scores)
    second = decide_items(SEEDED[name](11), EstimatedBudget(0.1), scores)
    other = decide_items(SEEDED[name](12), EstimatedBudget(0.1), scores)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other)


@pytest.mark.parametrize("name", list(SEEDED))
def test_global_seed_fixes_unseeded_strategies(name):
    torch.manual_seed(0)
    first = SEEDED[name](None)
    torch.manual_seed(0)
    second = SEEDED[name](None)
    assert first.seed == second.seed


@pytest.mark.parametrize("name", list(SEEDED))
def test_strategy_state_round_trip(name):
    scores = long_scores(4000, seed=9)
    uninterrupted = decide_items(SEEDED[name](13), EstimatedBudget(0.1), scores)

    strategy, budget = SEEDED[name](13), EstimatedBudget(0.1)
    decide_items(strategy, budget, scores[:2000])
    saved = json.loads(
        json.dumps({"strategy": strategy.state_dict(), "budget": budget.state_dict()})
    )
    resumed, resumed_budget = SEEDED[name](99), EstimatedBudget(0.1)
    resumed.load_state_dict(saved["strategy"])
    resumed_budget.load_state_dict(saved["budget"])
    rest = decide_items(resumed, resumed_budget, scores[2000:])

    assert np.array_equal(uninterrupted[2000:], rest)


def test_strategy_ignoring_budget_is_rejected():
    class Greedy(StreamStrategy):
        def decide(self, score, budget):
            return True

    with pytest.raises(InvalidQueryError, match="allowed no label"):
        decide_items(Greedy(), CumulativeBudget(0.5), np.ones(3))
