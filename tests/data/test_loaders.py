"""Tests for the train, validation, test and pool loaders of ActiveDataModule.

Most tests use a dataset whose item ``i`` is ``(tensor([i + offset]), i)``, so
the rows of every batch show which dataset items the batch holds.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch.utils.data import DataLoader, default_collate

from energizer.data import ActiveDataModule, PoolBatch
from energizer.errors import InvalidArgumentError, LabellingError


def pool_rows(loader: DataLoader) -> tuple[list[int], list[int], list[float], list[int]]:
    """Return the ids, targets, features and batch sizes a pool loader yields, in order."""
    ids: list[int] = []
    targets: list[int] = []
    features: list[float] = []
    sizes: list[int] = []
    for pool_batch in loader:
        assert isinstance(pool_batch, PoolBatch)
        batch_features, batch_targets = pool_batch.batch
        ids.extend(pool_batch.ids.tolist())
        targets.extend(batch_targets.tolist())
        features.extend(batch_features[:, 0].tolist())
        sizes.append(len(pool_batch.ids))
    return ids, targets, features, sizes


# --- train loader -------------------------------------------------------------------


@pytest.mark.parametrize("shuffle", [True, False])
def test_train_loader_yields_train_items(make_identity_dataset, loader_targets, shuffle):
    datamodule = ActiveDataModule(
        make_identity_dataset(20), initial_labels=[1, 4, 9, 15, 19], batch_size=2, shuffle=shuffle
    )

    assert loader_targets(datamodule.train_dataloader()) == [1, 4, 9, 15, 19]


def test_train_loader_uses_batch_size(make_identity_dataset):
    datamodule = ActiveDataModule(
        make_identity_dataset(20), initial_labels=[1, 4, 9, 15, 19], batch_size=2, eval_batch_size=7
    )

    assert datamodule.train_dataloader().batch_size == 2


def test_train_loader_features_match_ids(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(20, offset=0.5), initial_labels=[2, 3, 11])

    features, targets = next(iter(datamodule.train_dataloader()))

    assert sorted(features[:, 0].tolist()) == [2.5, 3.5, 11.5]
    assert sorted(targets.tolist()) == [2, 3, 11]


def test_train_loader_excludes_held_out(make_identity_dataset, loader_targets):
    datamodule = ActiveDataModule(
        make_identity_dataset(50), initial_labels=20, val_fraction=0.25, seed=0
    )

    assert loader_targets(datamodule.train_dataloader()) == datamodule.train_ids.tolist()
    assert loader_targets(datamodule.val_dataloader()) == datamodule.val_ids.tolist()
    assert datamodule.num_val == 5


def test_train_loader_without_labels(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(10))

    with pytest.raises(LabellingError, match="No labelled item to train on"):
        datamodule.train_dataloader()


# --- validation and test loaders ----------------------------------------------------


def test_val_loader_over_val_dataset(make_identity_dataset, loader_targets):
    datamodule = ActiveDataModule(
        make_identity_dataset(20),
        val_dataset=make_identity_dataset(5, offset=100.0),
        initial_labels=[0, 1],
        batch_size=2,
        eval_batch_size=3,
    )
    loader = datamodule.val_dataloader()
    features = torch.cat([batch_features for batch_features, _ in loader])[:, 0].tolist()

    assert loader_targets(loader) == [0, 1, 2, 3, 4]
    assert sorted(features) == [100.0, 101.0, 102.0, 103.0, 104.0]
    assert loader.batch_size == 3
    assert datamodule.has_validation


def test_val_loader_held_out_batch_size(make_identity_dataset):
    datamodule = ActiveDataModule(
        make_identity_dataset(50),
        initial_labels=20,
        val_fraction=0.25,
        batch_size=2,
        eval_batch_size=3,
        seed=0,
    )

    assert datamodule.val_dataloader().batch_size == 3
    assert datamodule.has_validation


@pytest.mark.parametrize("val_fraction", [None, 0.2], ids=["no fraction", "nothing labelled"])
def test_val_loader_empty_without_validation(make_identity_dataset, val_fraction):
    datamodule = ActiveDataModule(make_identity_dataset(10), val_fraction=val_fraction)

    assert datamodule.val_dataloader() == []
    assert not datamodule.has_validation


def test_val_dataset_without_labels_has_validation(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(10), val_dataset=make_identity_dataset(2))

    assert datamodule.has_validation


def test_test_loader_over_test_dataset(make_identity_dataset, loader_targets):
    datamodule = ActiveDataModule(
        make_identity_dataset(10),
        test_dataset=make_identity_dataset(7),
        batch_size=2,
        eval_batch_size=4,
    )
    loader = datamodule.test_dataloader()

    assert loader_targets(loader) == list(range(7))
    assert loader.batch_size == 4


def test_test_loader_empty_without_dataset(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(10))

    assert datamodule.test_dataloader() == []


# --- pool loader --------------------------------------------------------------------


def test_pool_ids_match_rows(make_identity_dataset):
    datamodule = ActiveDataModule(
        make_identity_dataset(10), initial_labels=[0, 4, 5], eval_batch_size=3
    )

    ids, targets, features, _ = pool_rows(datamodule.pool_dataloader())

    assert ids == targets
    assert features == [float(i) for i in ids]


def test_pool_covers_pool_ids_in_order(make_identity_dataset):
    datamodule = ActiveDataModule(
        make_identity_dataset(10), initial_labels=[0, 4, 5], eval_batch_size=3
    )

    ids, _, _, _ = pool_rows(datamodule.pool_dataloader())

    assert ids == datamodule.pool_ids.tolist()
    assert ids == [1, 2, 3, 6, 7, 8, 9]


def test_pool_keeps_last_partial_batch(make_identity_dataset):
    datamodule = ActiveDataModule(
        make_identity_dataset(10), initial_labels=[0, 4, 5], batch_size=2, eval_batch_size=3
    )
    loader = datamodule.pool_dataloader()

    _, _, _, sizes = pool_rows(loader)

    assert sizes == [3, 3, 1]
    assert loader.batch_size == 3
    assert loader.drop_last is False


def test_pool_never_shuffles(make_identity_dataset):
    datamodule = ActiveDataModule(
        make_identity_dataset(30), initial_labels=[3], shuffle=True, eval_batch_size=4, seed=0
    )

    first, _, _, _ = pool_rows(datamodule.pool_dataloader())
    second, _, _, _ = pool_rows(datamodule.pool_dataloader())

    assert first == datamodule.pool_ids.tolist()
    assert second == first


def test_pool_eval_batch_size_default(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(10), batch_size=4)

    assert datamodule.eval_batch_size == 4
    assert datamodule.pool_dataloader().batch_size == 4


def test_pool_follows_labelling(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(12), initial_labels=[0], eval_batch_size=5)

    datamodule.label([2, 7, 11])
    ids, targets, _, _ = pool_rows(datamodule.pool_dataloader())

    assert ids == [1, 3, 4, 5, 6, 8, 9, 10]
    assert targets == ids


def test_predict_loader_is_pool(make_identity_dataset):
    datamodule = ActiveDataModule(
        make_identity_dataset(10), initial_labels=[0, 9], eval_batch_size=3
    )

    ids, _, _, _ = pool_rows(datamodule.predict_dataloader())

    assert ids == datamodule.pool_ids.tolist()


def test_pool_dataset_other_length(make_identity_dataset):
    message = (
        "Invalid `pool_dataset`: expected the same items as train_dataset (20 items), "
        "received a dataset of 19 items."
    )

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        ActiveDataModule(make_identity_dataset(20), pool_dataset=make_identity_dataset(19))


def test_pool_reads_pool_dataset(make_identity_dataset, loader_targets):
    datamodule = ActiveDataModule(
        make_identity_dataset(10),
        pool_dataset=make_identity_dataset(10, offset=1000.0),
        initial_labels=[2, 3],
        eval_batch_size=4,
    )

    ids, targets, features, _ = pool_rows(datamodule.pool_dataloader())
    train_features = torch.cat([f for f, _ in datamodule.train_dataloader()])[:, 0].tolist()

    assert ids == targets
    assert features == [1000.0 + i for i in ids]
    assert sorted(train_features) == [2.0, 3.0]


# --- collate functions --------------------------------------------------------------


def tagging_collate(items: list) -> dict:
    """Collate ``(features, target)`` items into a mapping that records which function built it."""
    features, targets = default_collate(items)
    return {"features": features, "targets": targets, "collated_by": "tagging_collate"}


def build_for_collate(make_identity_dataset, loader_name: str) -> DataLoader:
    datamodule = ActiveDataModule(
        make_identity_dataset(40),
        test_dataset=make_identity_dataset(5),
        initial_labels=20,
        val_fraction=0.25,
        collate_fn=tagging_collate,
        seed=0,
    )
    return getattr(datamodule, loader_name)()


@pytest.mark.parametrize("loader_name", ["train_dataloader", "val_dataloader", "test_dataloader"])
def test_collate_fn_used_by_loaders(make_identity_dataset, loader_name):
    batch = next(iter(build_for_collate(make_identity_dataset, loader_name)))

    assert batch["collated_by"] == "tagging_collate"


def test_collate_fn_used_by_pool(make_identity_dataset):
    pool_batch = next(iter(build_for_collate(make_identity_dataset, "pool_dataloader")))

    assert isinstance(pool_batch, PoolBatch)
    assert pool_batch.batch["collated_by"] == "tagging_collate"
    assert pool_batch.ids.tolist() == pool_batch.batch["targets"].tolist()


def collate_descending_ids(pairs: list) -> PoolBatch:
    """Collate ``(dataset_id, item)`` pairs in order of descending id, like a reordering collate."""
    ordered = sorted(pairs, key=lambda pair: pair[0], reverse=True)
    ids = torch.tensor([dataset_id for dataset_id, _ in ordered], dtype=torch.int64)
    return PoolBatch(ids=ids, batch=default_collate([item for _, item in ordered]))


def test_pool_collate_fn_reordering(make_identity_dataset):
    datamodule = ActiveDataModule(
        make_identity_dataset(20),
        initial_labels=[0, 5],
        eval_batch_size=4,
        pool_collate_fn=collate_descending_ids,
    )
    loader = datamodule.pool_dataloader()

    for pool_batch in loader:
        batch_ids = pool_batch.ids.tolist()
        assert batch_ids == sorted(batch_ids, reverse=True)
        assert batch_ids == pool_batch.batch[1].tolist()
    ids, _, _, _ = pool_rows(loader)
    assert sorted(ids) == datamodule.pool_ids.tolist()
