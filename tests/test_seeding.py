"""One global seed fixes the seeds that components built with ``seed=None`` draw."""

from __future__ import annotations

import torch
from torch import nn
from torch.utils.data import TensorDataset

from energizer import ActiveDataModule
from energizer.query_strategies import EntropyStrategy, RandomStrategy
from energizer.seeding import derive_seed, draw_seed


def build(global_seed: int):
    torch.manual_seed(global_seed)
    dataset = TensorDataset(torch.randn(50, 3), torch.arange(50) % 2)
    datamodule = ActiveDataModule(dataset, initial_labels=5)
    strategy = EntropyStrategy(nn.Linear(3, 2))
    return datamodule, strategy


def test_global_seed_fixes_drawn_seeds():
    first_data, first_strategy = build(3)
    second_data, second_strategy = build(3)

    assert first_data.seed == second_data.seed
    assert first_data.labelled_ids.tolist() == second_data.labelled_ids.tolist()
    assert first_strategy.seed == second_strategy.seed


def test_other_global_seed_draws_other_seeds():
    first_data, first_strategy = build(3)
    other_data, other_strategy = build(4)

    assert first_data.seed != other_data.seed
    assert first_data.labelled_ids.tolist() != other_data.labelled_ids.tolist()
    assert first_strategy.seed != other_strategy.seed


def test_random_strategy_follows_global_seed():
    ids = torch.arange(100).numpy()
    torch.manual_seed(0)
    first = RandomStrategy(nn.Linear(1, 1)).query(ids, None, 5)
    torch.manual_seed(0)
    second = RandomStrategy(nn.Linear(1, 1)).query(ids, None, 5)

    assert first.tolist() == second.tolist()


def test_seed_ranges():
    assert 0 <= draw_seed() < 2**32
    assert derive_seed(1, 2) == derive_seed(1, 2)
    assert derive_seed(1, 2) != derive_seed(2, 1)
    assert 0 <= derive_seed(2**40, -1) < 2**32
