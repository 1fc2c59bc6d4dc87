"""The running top-m candidate buffer and BatchBALD's use of it."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from strategy_helpers import SeededClassifier, make_dataset, make_trainer

from energizer import ActiveDataModule
from energizer.errors import InvalidArgumentError
from energizer.query_strategies import BALDStrategy, BatchBALDStrategy
from energizer.query_strategies.candidates import CandidateBuffer


def offer(buffer: CandidateBuffer, ids, scores) -> None:
    ids_tensor = torch.tensor(ids)
    buffer.add(ids_tensor, torch.tensor(scores, dtype=torch.float64), ids_tensor.float().unsqueeze(1))


def test_buffer_keeps_best_scores():
    buffer = CandidateBuffer(capacity=3)
    offer(buffer, [0, 1, 2], [0.1, 0.9, 0.5])
    offer(buffer, [3, 4], [0.7, 0.2])

    ids, scores, features = buffer.result()

    assert ids.tolist() == [1, 2, 3]
    assert scores.tolist() == [0.9, 0.5, 0.7]
    assert features.squeeze(1).tolist() == [1.0, 2.0, 3.0]


def test_buffer_ties_keep_lower_id():
    buffer = CandidateBuffer(capacity=2)
    offer(buffer, [9, 4], [0.5, 0.5])
    offer(buffer, [1, 7], [0.5, 0.1])

    ids, _, _ = buffer.result()

    assert ids.tolist() == [1, 4]


def test_buffer_without_capacity_keeps_all():
    buffer = CandidateBuffer(capacity=None)
    for start in range(0, 20, 5):
        offer(buffer, list(range(start, start + 5)), [float(start)] * 5)

    ids, _, features = buffer.result()

    assert ids.tolist() == list(range(20))
    assert features.shape == (20, 1)


def test_buffer_stays_bounded():
    buffer = CandidateBuffer(capacity=4)
    for start in range(0, 100, 10):
        offer(buffer, list(range(start, start + 10)), np.linspace(0, 1, 10).tolist())
        _, _, features = buffer.result()
        assert features.shape[0] <= 4


def test_batchbald_picks_from_candidates():
    datamodule = ActiveDataModule(make_dataset(), initial_labels=[0, 1, 2], eval_batch_size=8)
    bald_ids = make_trainer().query(BALDStrategy(SeededClassifier(0), seed=0), datamodule, 8)

    ids = make_trainer().query(BatchBALDStrategy(SeededClassifier(0), candidates=8, seed=0), datamodule, 5)

    assert set(ids.tolist()) <= set(bald_ids.tolist())


def test_batchbald_candidates_below_query_size():
    datamodule = ActiveDataModule(make_dataset(), initial_labels=[0, 1, 2])
    strategy = BatchBALDStrategy(SeededClassifier(0), candidates=3)

    with pytest.raises(InvalidArgumentError, match=r"Invalid `candidates`: expected at least query_size=5, received 3"):
        make_trainer().active_fit(strategy, datamodule, query_size=5)


@pytest.mark.parametrize("candidates", [0, -1, 2.5, True])
def test_batchbald_invalid_candidates(candidates):
    with pytest.raises(InvalidArgumentError, match=r"Invalid `candidates`: expected a positive integer or None"):
        BatchBALDStrategy(SeededClassifier(0), candidates=candidates)


@pytest.mark.parametrize("argument", ["num_configurations", "max_memory_bytes"])
@pytest.mark.parametrize("value", [0, 1.5e9, True])
def test_batchbald_invalid_budget(argument, value):
    with pytest.raises(InvalidArgumentError, match=rf"Invalid `{argument}`: expected a positive integer"):
        BatchBALDStrategy(SeededClassifier(0), **{argument: value})


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "a", True])
def test_strategy_invalid_seed(seed):
    with pytest.raises(InvalidArgumentError, match=r"Invalid `seed`: expected None or an integer"):
        BALDStrategy(SeededClassifier(0), seed=seed)
