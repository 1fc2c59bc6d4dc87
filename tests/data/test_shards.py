"""Each process's share of a pass in a distributed run: every item once, no padding."""

from __future__ import annotations

import pytest
from test_loaders import pool_rows
from torch.utils.data import DistributedSampler

from energizer import ActiveDataModule
from energizer.data import ShardSampler
from energizer.data.pool import is_split


@pytest.mark.parametrize("num_items", [4, 7, 10, 101])
@pytest.mark.parametrize("world_size", [2, 3, 4])
def test_shares_hold_every_position_once(num_items, world_size):
    shares = [list(ShardSampler(num_items, rank, world_size)) for rank in range(world_size)]

    assert sorted(position for share in shares for position in share) == list(range(num_items))
    sizes = [len(share) for share in shares]
    assert max(sizes) - min(sizes) <= 1
    assert min(sizes) >= 1
    assert all(len(ShardSampler(num_items, rank, world_size)) == sizes[rank] for rank in range(world_size))


@pytest.mark.parametrize(("num_items", "world_size"), [(1, 2), (2, 3), (0, 2), (5, 1)])
def test_small_passes_run_whole_on_every_process(num_items, world_size):
    for rank in range(world_size):
        assert list(ShardSampler(num_items, rank, world_size)) == list(range(num_items))
    assert not is_split(num_items, world_size)


def test_lightning_keeps_the_sampler():
    # Lightning adds its own distributed sampler unless the loader already has a DistributedSampler.
    assert isinstance(ShardSampler(10, 0, 2), DistributedSampler)


def test_pool_loader_holds_this_process_share(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(12), initial_labels=[0, 5], eval_batch_size=2)

    shares = [pool_rows(datamodule.pool_dataloader(rank=rank, world_size=3))[0] for rank in range(3)]

    assert shares == [[1, 2, 3, 4], [6, 7, 8], [9, 10, 11]]
    assert pool_rows(datamodule.pool_dataloader([2, 9, 11], rank=1, world_size=2))[0] == [11]


def test_labelled_loader_holds_this_process_share(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(12), initial_labels=[0, 5, 9], eval_batch_size=2)

    shares = [pool_rows(datamodule.labelled_dataloader(rank=rank, world_size=2))[0] for rank in range(2)]

    assert shares == [[0, 5], [9]]


@pytest.mark.filterwarnings("ignore:.pin_memory. argument is set as true:UserWarning")
def test_loader_knobs_reach_the_pool_loader(make_identity_dataset):
    datamodule = ActiveDataModule(
        make_identity_dataset(12),
        test_dataset=make_identity_dataset(3),
        initial_labels=[0],
        batch_size=4,
        eval_batch_size=5,
        num_workers=2,
        pin_memory=True,
        persistent_workers=True,
    )

    evaluation = [datamodule.pool_dataloader(), datamodule.labelled_dataloader(), datamodule.test_dataloader()]
    training = datamodule.train_dataloader()
    for loader in [*evaluation, training]:
        assert loader.batch_size == (4 if loader is training else 5)
        assert loader.num_workers == 2
        assert loader.pin_memory is True
        assert loader.persistent_workers is True
    ids = sorted(pool_rows(datamodule.pool_dataloader(rank=0, world_size=2))[0])
    assert ids == list(range(1, 7))
