"""Budget adherence over a long stream of constructed scores, for every manager and strategy."""

from __future__ import annotations

import json

import numpy as np
import pytest
from stream_helpers import long_scores, trace

from energizer.stream import (
    CumulativeBudget,
    EstimatedBudget,
    FixedUncertainty,
    RandomStream,
    Split,
    VariableUncertainty,
)

BUDGETS = [0.01, 0.05, 0.1, 0.3, 0.5]
NUM_ITEMS = 20_000
# Rounding slack for comparing float fractions with their bounds.
EPSILON = 1e-12

STRATEGIES = {
    "fixed": lambda: FixedUncertainty(threshold=0.0),
    "variable": lambda: VariableUncertainty(),
    "split": lambda: Split(random_share=0.2, seed=0),
    "random": lambda: RandomStream(seed=0),
    "random-greedy": lambda: RandomStream(probability=1.0, seed=0),
}
# Strategies that query on almost every item the manager allows, so they spend about the whole budget.
SPENDERS = ("fixed", "variable", "split", "random-greedy")
MANAGERS = {
    "estimated": lambda budget: EstimatedBudget(budget),
    "estimated-w100": lambda budget: EstimatedBudget(budget, window=100),
    "cumulative": lambda budget: CumulativeBudget(budget),
}


@pytest.fixture(scope="module")
def scores() -> np.ndarray:
    return long_scores(NUM_ITEMS, seed=0)


@pytest.mark.parametrize("manager_name", list(MANAGERS))
@pytest.mark.parametrize("strategy_name", list(STRATEGIES))
@pytest.mark.parametrize("budget", BUDGETS)
def test_fraction_within_bound(scores, budget, strategy_name, manager_name):
    manager = MANAGERS[manager_name](budget)
    steps = trace(STRATEGIES[strategy_name](), manager, scores)
    seen = np.arange(1, NUM_ITEMS + 1)
    bounds = np.array([manager.labelled_fraction_bound(count) for count in seen])

    assert np.all(steps.fraction <= bounds + EPSILON)
    assert not np.any(steps.queried & ~steps.allowed)
    if isinstance(manager, EstimatedBudget):
        assert np.all(steps.estimate <= budget + manager.tolerance + EPSILON)
    if isinstance(manager, CumulativeBudget):
        assert np.all(steps.fraction <= budget + EPSILON)
    if strategy_name in SPENDERS:
        assert steps.fraction[-1] >= 0.9 * budget


def test_estimate_follows_recursion():
    manager = EstimatedBudget(0.2, window=10)
    decisions = [True, False, False, True, False, False, False, True]
    expected = 0.0
    for decision in decisions:
        if decision:
            assert manager.allows()
        manager.record(decision)
        expected = expected * 9 / 10 + float(decision)
        assert manager.estimate == pytest.approx(expected / 10, rel=1e-15)
    assert manager.num_seen == len(decisions)
    assert manager.num_labelled == sum(decisions)


def test_estimate_blocks_at_budget():
    manager = EstimatedBudget(0.5, window=2)
    manager.record(True)
    # u = 1, estimate 0.5: not below the budget, so no label.
    assert not manager.allows()
    manager.record(False)
    # u = 0.5, estimate 0.25.
    assert manager.allows()


def test_cumulative_counts_the_next_item():
    manager = CumulativeBudget(0.25)
    allowed = []
    for _ in range(8):
        allowed.append(manager.allows())
        manager.record(allowed[-1])
    assert allowed == [False, False, False, True, False, False, False, True]


def test_default_window_spans_ten_labels():
    assert EstimatedBudget(0.5).window == 100
    assert EstimatedBudget(0.01).window == 1000
    assert EstimatedBudget(0.01).tolerance == pytest.approx(0.001)


@pytest.mark.parametrize("manager_name", list(MANAGERS))
def test_manager_state_round_trip(scores, manager_name):
    uninterrupted = MANAGERS[manager_name](0.1)
    first = trace(VariableUncertainty(), uninterrupted, scores[:3000])

    interrupted = MANAGERS[manager_name](0.1)
    strategy = VariableUncertainty()
    trace(strategy, interrupted, scores[:1500])
    saved = json.loads(
        json.dumps({"budget": interrupted.state_dict(), "strategy": strategy.state_dict()})
    )
    resumed = MANAGERS[manager_name](0.1)
    resumed_strategy = VariableUncertainty()
    resumed.load_state_dict(saved["budget"])
    resumed_strategy.load_state_dict(saved["strategy"])
    second = trace(resumed_strategy, resumed, scores[1500:3000])

    assert np.array_equal(first.queried[1500:], second.queried)
    assert resumed.num_labelled == uninterrupted.num_labelled
    assert resumed.num_seen == uninterrupted.num_seen
