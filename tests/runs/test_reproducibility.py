"""One global seed makes a whole run reproducible, and another seed gives other ids."""

from __future__ import annotations

import pytest
from run_helpers import make_run

from energizer.query_strategies import PowerBALDStrategy, RandomStrategy, TypiClustStrategy

STRATEGIES = [PowerBALDStrategy, TypiClustStrategy, RandomStrategy]


def run_summary(global_seed: int, strategy_class) -> tuple[list, list, list]:
    strategy, datamodule, trainer = make_run(global_seed, strategy_class=strategy_class)
    results = trainer.active_fit(strategy, datamodule, query_size=4, max_rounds=3)
    return (
        datamodule.label_rounds.tolist(),
        [record.queried_ids.tolist() for record in results],
        [record.metrics for record in results],
    )


@pytest.mark.parametrize("strategy_class", STRATEGIES, ids=lambda cls: cls.__name__)
def test_same_seed_same_run(strategy_class):
    first = run_summary(5, strategy_class)
    second = run_summary(5, strategy_class)

    assert first[0] == second[0]
    assert first[1] == second[1]
    assert first[2] == second[2]


@pytest.mark.parametrize("strategy_class", STRATEGIES, ids=lambda cls: cls.__name__)
def test_other_seed_other_ids(strategy_class):
    first = run_summary(5, strategy_class)
    other = run_summary(6, strategy_class)

    assert first[0] != other[0]
    assert first[1] != other[1]


def test_run_seed_fixes_training():
    strategy, datamodule, trainer = make_run(5)
    first = trainer.active_fit(strategy, datamodule, query_size=4, max_rounds=2, seed=1)
    strategy, datamodule, trainer = make_run(5)
    same = trainer.active_fit(strategy, datamodule, query_size=4, max_rounds=2, seed=1)
    strategy, datamodule, trainer = make_run(5)
    other = trainer.active_fit(strategy, datamodule, query_size=4, max_rounds=2, seed=2)

    assert [record.metrics for record in first] == [record.metrics for record in same]
    assert [record.metrics["test_loss"] for record in first] != [record.metrics["test_loss"] for record in other]
