"""The labelled-item loader and the pool loader restricted to given ids."""

from __future__ import annotations

import re

import pytest
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
