"""Tests for building an ActiveDataModule: rejected arguments and from_datamodule."""

from __future__ import annotations

import re

import lightning.pytorch as pl
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, IterableDataset, TensorDataset, default_collate

from energizer.data import ActiveDataModule
from energizer.errors import InvalidArgumentError


class Stream(IterableDataset):
    """Iterable dataset without ``__len__``."""

    def __iter__(self):
        return iter(range(5))


class MappingItems(torch.utils.data.Dataset):
    """Ten ``{"features": ..., "label": ...}`` items."""

    def __len__(self) -> int:
        return 10

    def __getitem__(self, index: int) -> dict:
        return {"features": torch.tensor([float(index)]), "label": index % 2}


class FloatTargetsAttribute(torch.utils.data.Dataset):
    """Ten bare tensor items with a ``targets`` attribute of floats."""

    targets = [0.5 * i for i in range(10)]

    def __len__(self) -> int:
        return 10

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([float(index)])


def identity_tensors(length: int) -> TensorDataset:
    features = torch.arange(length, dtype=torch.float32).unsqueeze(1)
    return TensorDataset(features, torch.arange(length))


# Rows are (case id, dataset, kwargs, message). A dataset of None means a 20-item TensorDataset.
BAD_ARGUMENTS = [
    (
        "empty dataset",
        TensorDataset(torch.empty(0, 1), torch.empty(0)),
        {},
        "Invalid `train_dataset`: expected a dataset with at least one item, "
        "received an empty dataset (a TensorDataset of length 0).",
    ),
    (
        "dataset without length",
        Stream(),
        {},
        "Invalid `train_dataset`: expected a map-style dataset with __len__ and __getitem__, "
        "received a Stream without a length.",
    ),
    *[
        (
            f"batch_size {value}",
            None,
            {"batch_size": value},
            f"Invalid `batch_size`: expected a positive integer, received {value}.",
        )
        for value in (0, -1, 2.5, True)
    ],
    (
        "eval_batch_size 0",
        None,
        {"eval_batch_size": 0},
        "Invalid `eval_batch_size`: expected a positive integer, received 0.",
    ),
    (
        "initial_labels 0",
        None,
        {"initial_labels": 0},
        "Invalid `initial_labels`: expected a count between 1 and the dataset's 20 items, "
        "received 0.",
    ),
    (
        "initial_labels above length",
        None,
        {"initial_labels": 21},
        "Invalid `initial_labels`: expected a count between 1 and the dataset's 20 items, "
        "received 21.",
    ),
    (
        "initial_labels string",
        None,
        {"initial_labels": "5"},
        "Invalid `initial_labels`: expected a count (int) or a sequence of dataset ids, "
        "received '5'.",
    ),
    (
        "initial_labels float",
        None,
        {"initial_labels": 2.5},
        "Invalid `initial_labels`: expected a count (int) or a sequence of dataset ids, "
        "received 2.5.",
    ),
    (
        "initial_sampling bogus",
        None,
        {"initial_labels": 5, "initial_sampling": "bogus"},
        "Invalid `initial_sampling`: expected one of 'random', 'stratified', received 'bogus'.",
    ),
    (
        "stratified float TensorDataset targets",
        TensorDataset(torch.zeros(10, 1), torch.linspace(0, 1, 10)),
        {"initial_labels": 4, "initial_sampling": "stratified"},
        "Invalid `targets`: expected integer class indices, received an array of dtype float32.",
    ),
    (
        "stratified float targets attribute",
        FloatTargetsAttribute(),
        {"initial_labels": 4, "initial_sampling": "stratified"},
        "Invalid `targets`: expected integer class indices, received an array of dtype float64.",
    ),
    (
        "stratified targets of wrong length",
        None,
        {"initial_labels": 4, "initial_sampling": "stratified", "targets": [0, 1] * 5},
        "Invalid `targets`: expected one class per item, shape (20,), received an array of shape (10,).",
    ),
    (
        "stratified mapping items without key",
        MappingItems(),
        {"initial_labels": 4, "initial_sampling": "stratified"},
        "Invalid `target_key`: expected a key of the dataset's items ['features', 'label'], "
        "received None.",
    ),
]


@pytest.mark.parametrize(
    "dataset, kwargs, message",
    [case[1:] for case in BAD_ARGUMENTS],
    ids=[case[0] for case in BAD_ARGUMENTS],
)
def test_constructor_rejects_argument(dataset, kwargs, message):
    train_dataset = identity_tensors(20) if dataset is None else dataset

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        ActiveDataModule(train_dataset, **kwargs)


def test_invalid_argument_is_value_error():
    assert issubclass(InvalidArgumentError, ValueError)


def test_stratified_rejects_float_targets_argument():
    with pytest.raises(InvalidArgumentError, match=re.escape("integer class indices")):
        ActiveDataModule(
            identity_tensors(10),
            initial_labels=4,
            initial_sampling="stratified",
            targets=np.linspace(0.0, 1.0, 10),
        )


@pytest.mark.parametrize("batch_size", [1, np.int64(3)], ids=["one", "numpy int"])
def test_constructor_accepts_batch_size(batch_size):
    datamodule = ActiveDataModule(identity_tensors(10), batch_size=batch_size)

    assert datamodule.batch_size == int(batch_size)
    assert isinstance(datamodule.batch_size, int)


# --- from_datamodule ----------------------------------------------------------------


def tagging_collate(items: list):
    """Collate like ``default_collate``, as a separate function whose identity the tests check."""
    return default_collate(items)


class FullDataModule(pl.LightningDataModule):
    """A plain Lightning data module with train, validation and test loaders, set up per stage."""

    def setup(self, stage: str) -> None:
        if stage == "fit":
            self.train_set = identity_tensors(30)
            self.val_set = identity_tensors(5)
        if stage == "test":
            self.test_set = identity_tensors(6)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=4, shuffle=True, collate_fn=tagging_collate)

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val_set, batch_size=2)

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test_set, batch_size=3)


class TrainOnlyDataModule(pl.LightningDataModule):
    """A Lightning data module with only a train loader."""

    def setup(self, stage: str) -> None:
        self.train_set = identity_tensors(12)

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.train_set, batch_size=5)


class ListTrainDataModule(pl.LightningDataModule):
    """A Lightning data module whose train loader is a list of two loaders."""

    def train_dataloader(self) -> list:
        return [DataLoader(identity_tensors(4)), DataLoader(identity_tensors(4))]


class ListValDataModule(TrainOnlyDataModule):
    """A Lightning data module whose validation loader is a list of two loaders."""

    def val_dataloader(self) -> list:
        return [DataLoader(identity_tensors(4)), DataLoader(identity_tensors(4))]


def test_from_datamodule_takes_datasets():
    source = FullDataModule()

    datamodule = ActiveDataModule.from_datamodule(source, initial_labels=5, seed=0)

    assert datamodule.train_dataset is source.train_set
    assert datamodule.val_dataset is source.val_set
    assert datamodule.test_dataset is source.test_set
    assert datamodule.num_labelled == 5


def test_from_datamodule_takes_loader_settings():
    datamodule = ActiveDataModule.from_datamodule(FullDataModule(), initial_labels=5, seed=0)

    assert datamodule.batch_size == 4
    assert datamodule.eval_batch_size == 3
    assert datamodule.collate_fn is tagging_collate
    assert datamodule.pool_dataloader().collate_fn.collate_fn is tagging_collate


def test_from_datamodule_kwargs_override():
    datamodule = ActiveDataModule.from_datamodule(
        FullDataModule(), initial_labels=[1, 2], batch_size=8
    )

    assert datamodule.batch_size == 8
    assert datamodule.labelled_ids.tolist() == [1, 2]


def test_from_datamodule_train_only():
    datamodule = ActiveDataModule.from_datamodule(TrainOnlyDataModule(), initial_labels=3, seed=0)

    assert datamodule.val_dataset is None
    assert datamodule.test_dataset is None
    assert datamodule.batch_size == 5
    assert datamodule.eval_batch_size == 5
    assert datamodule.val_dataloader() == []
    assert datamodule.test_dataloader() == []


@pytest.mark.parametrize(
    "source, hook",
    [(ListTrainDataModule(), "train_dataloader"), (ListValDataModule(), "val_dataloader")],
    ids=["train", "val"],
)
def test_from_datamodule_rejects_loader_list(source, hook):
    message = f"Invalid `{hook}`: expected a single torch DataLoader, received a list."

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        ActiveDataModule.from_datamodule(source, initial_labels=2)


def test_sampling_checked_with_explicit_ids():
    with pytest.raises(InvalidArgumentError, match=r"Invalid `initial_sampling`: expected one of 'random', 'stratified', received 'bogus'"):
        ActiveDataModule(identity_tensors(10), initial_labels=[1, 2], initial_sampling="bogus")
