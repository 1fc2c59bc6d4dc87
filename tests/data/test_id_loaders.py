"""The labelled-item loader and the pool loader restricted to given ids."""

from __future__ import annotations

import re

import pytest
import torch
from conftest import IdentityDataset
from test_loaders import pool_rows

from energizer import ActiveDataModule
from energizer.errors import LabellingError


def test_labelled_loader_yields_labelled_ids(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(10), initial_labels=[8, 0, 4], eval_batch_size=2)

    ids, targets, _, sizes = pool_rows(datamodule.labelled_dataloader())

    assert ids == [0, 4, 8]
    assert targets == ids
    assert sizes == [2, 1]


def test_labelled_loader_includes_held_out(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(20), initial_labels=10, val_fraction=0.3, seed=0)

    ids, _, _, _ = pool_rows(datamodule.labelled_dataloader())

    assert datamodule.num_val == 3
    assert ids == datamodule.labelled_ids.tolist()


def test_labelled_loader_reads_pool_dataset(make_identity_dataset):
    datamodule = ActiveDataModule(
        make_identity_dataset(10),
        pool_dataset=make_identity_dataset(10, offset=0.5),
        initial_labels=[1, 2],
    )

    _, _, features, _ = pool_rows(datamodule.labelled_dataloader())

    assert features == [1.5, 2.5]


def test_labelled_loader_empty_without_labels(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(5))

    ids, _, _, _ = pool_rows(datamodule.labelled_dataloader())

    assert ids == []


def test_pool_loader_restricted_to_ids(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(10), initial_labels=[0, 4], eval_batch_size=2)

    ids, targets, _, sizes = pool_rows(datamodule.pool_dataloader([3, 7, 9]))

    assert ids == [3, 7, 9]
    assert targets == ids
    assert sizes == [2, 1]


def test_pool_loader_rejects_labelled_ids(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(10), initial_labels=[0, 4])
    message = "Invalid `ids`: 1 of them are not in the pool (for example [4])"

    with pytest.raises(LabellingError, match=re.escape(message)):
        datamodule.pool_dataloader([3, 4])


class BatchReadDataset(IdentityDataset):
    """An :class:`IdentityDataset` that also reads whole batches, and records each batch it read."""

    def __init__(self, length: int) -> None:
        super().__init__(length)
        self.batches: list[list[int]] = []

    def __getitems__(self, indices: list[int]) -> list[tuple[torch.Tensor, int]]:
        self.batches.append(list(indices))
        return [self[index] for index in indices]


def test_pool_loader_reads_batches_through_dataset():
    dataset = BatchReadDataset(12)
    datamodule = ActiveDataModule(dataset, initial_labels=[0, 5, 7], eval_batch_size=4)

    ids, targets, _, sizes = pool_rows(datamodule.pool_dataloader())

    assert ids == [1, 2, 3, 4, 6, 8, 9, 10, 11]
    assert targets == ids
    assert sizes == [4, 4, 1]
    assert dataset.batches == [[1, 2, 3, 4], [6, 8, 9, 10], [11]]


def test_pool_loader_same_with_and_without_batch_reads(make_identity_dataset):
    options = {"initial_labels": [3, 4], "eval_batch_size": 3}
    one_by_one = ActiveDataModule(make_identity_dataset(10), **options)
    batched = ActiveDataModule(BatchReadDataset(10), **options)

    assert pool_rows(batched.pool_dataloader([9, 1, 6, 2])) == pool_rows(one_by_one.pool_dataloader([9, 1, 6, 2]))
