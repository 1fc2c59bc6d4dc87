"""Distributed set-up that can be checked in one process: launch modes and single-process no-ops."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from loop_helpers import RecordingClassifier, make_dataset, quiet_trainer

from energizer import ActiveDataModule
from energizer.errors import InvalidArgumentError
from energizer.loop.checks import check_processes_joined
from energizer.loop.ranks import Ranks
from energizer.query_strategies import EntropyStrategy


@pytest.mark.parametrize("launch", ["ddp_spawn", "ddp_fork", "ddp_notebook"])
@pytest.mark.parametrize("call", ["active_fit", "query"])
def test_child_process_launches_rejected(launch, call):
    model = RecordingClassifier()
    trainer = quiet_trainer(strategy=launch, devices=2)
    datamodule = ActiveDataModule(make_dataset(30), initial_labels=6, seed=0)
    strategy = EntropyStrategy(model)
    expected = re.escape(
        "Invalid `strategy`: expected a Lightning strategy whose processes run the whole active "
        f"learning loop, such as 'ddp', received '{launch}'."
    )

    with pytest.raises(InvalidArgumentError, match=expected) as raised:
        if call == "active_fit":
            trainer.active_fit(strategy, datamodule, query_size=3, max_rounds=2)
        else:
            trainer.query(strategy, datamodule, query_size=3)

    assert "strategy='ddp'" in str(raised.value)
    assert model.epochs_per_fit == []


def test_unjoined_processes_rejected():
    with pytest.raises(InvalidArgumentError, match="ran in child processes this process never joined"):
        check_processes_joined(world_size=2, joined=False)
    check_processes_joined(world_size=1, joined=False)
    check_processes_joined(world_size=2, joined=True)


def test_single_process_ranks_are_no_ops():
    ranks = Ranks(quiet_trainer())
    ids = np.array([4, 1, 9])
    scores = torch.tensor([0.5, 0.25, 1.0])

    gathered_ids, columns = ranks.gather_rows(ids, {"scores": scores})

    assert (ranks.rank, ranks.world_size, ranks.connected) == (0, 1, False)
    assert ranks.loader_share() == {}
    assert not ranks.splits(100)
    assert gathered_ids is ids
    assert columns["scores"] is scores
    assert ranks.broadcast([1, 2]) == [1, 2]
    assert ranks.all_true(True)
    assert not ranks.all_true(False)


def test_ranks_before_launch_are_alone():
    # A DDP trainer starts its processes in its first fit, test or predict, so before that it is alone.
    ranks = Ranks(quiet_trainer(strategy="ddp", devices=2))

    assert (ranks.rank, ranks.world_size, ranks.connected) == (0, 2, False)
    assert ranks.loader_share() == {"rank": 0, "world_size": 2}
    assert ranks.broadcast("mine") == "mine"
