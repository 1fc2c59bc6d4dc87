"""Tests for the initial labelled set: the draw helpers and the data module's initial labels.

Stratified quotas below are worked out by hand with the largest-remainder rule:
each class gets ``floor(count * frequency / total)`` items, and the leftover
items go to the classes with the largest fractional parts.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.data import Dataset, TensorDataset

from energizer.data import UNLABELLED, ActiveDataModule
from energizer.data.initial_labels import draw_random, draw_stratified

# Classes 0, 1 and 2 with frequencies 5, 3 and 2 out of 10.
TARGETS_5_3_2 = np.array([0, 1, 2, 0, 1, 0, 2, 0, 1, 0])


def class_counts(ids: np.ndarray, targets: np.ndarray, num_classes: int) -> list[int]:
    return np.bincount(targets[ids], minlength=num_classes).tolist()


# --- draw_random --------------------------------------------------------------------


def test_draw_random_count_and_range():
    ids = draw_random(7, 20, seed=0)

    assert ids.shape == (7,)
    assert np.unique(ids).size == 7
    assert ids.min() >= 0
    assert ids.max() < 20
    assert ids.tolist() == sorted(ids.tolist())


def test_draw_random_seed_reproducible():
    assert draw_random(5, 100, seed=3).tolist() == draw_random(5, 100, seed=3).tolist()
    assert draw_random(5, 100, seed=3).tolist() != draw_random(5, 100, seed=4).tolist()


@pytest.mark.parametrize("count", [0, 20])
def test_draw_random_edge_counts(count):
    assert draw_random(count, 20, seed=0).tolist() == list(range(count))


# --- draw_stratified ----------------------------------------------------------------

# (count, items per class 0/1/2), worked out by hand from frequencies 5/3/2:
# count 1: exact 0.5/0.3/0.2, floors 0/0/0, one leftover to class 0.
# count 2: exact 1.0/0.6/0.4, floors 1/0/0, one leftover to class 1.
# count 3: exact 1.5/0.9/0.6, floors 1/0/0, two leftovers to classes 1 and 2.
# count 4: exact 2.0/1.2/0.8, floors 2/1/0, one leftover to class 2.
# count 6: exact 3.0/1.8/1.2, floors 3/1/1, one leftover to class 1.
# count 7: exact 3.5/2.1/1.4, floors 3/2/1, one leftover to class 0.
# count 8: exact 4.0/2.4/1.6, floors 4/2/1, one leftover to class 2.
# count 9: exact 4.5/2.7/1.8, floors 4/2/1, two leftovers to classes 2 and 1.
STRATIFIED_QUOTAS = [
    (0, [0, 0, 0]),
    (1, [1, 0, 0]),
    (2, [1, 1, 0]),
    (3, [1, 1, 1]),
    (4, [2, 1, 1]),
    (6, [3, 2, 1]),
    (7, [4, 2, 1]),
    (8, [4, 2, 2]),
    (9, [4, 3, 2]),
    (10, [5, 3, 2]),
]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("count, expected", STRATIFIED_QUOTAS)
def test_draw_stratified_quotas(count, expected, seed):
    ids = draw_stratified(count, TARGETS_5_3_2, seed)

    assert class_counts(ids, TARGETS_5_3_2, 3) == expected


def test_draw_stratified_tie_broken_randomly():
    # count 5: exact 2.5/1.5/1.0, floors 2/1/1, and classes 0 and 1 tie for the leftover.
    outcomes = set()
    for seed in range(20):
        ids = draw_stratified(5, TARGETS_5_3_2, seed)
        outcomes.add(tuple(class_counts(ids, TARGETS_5_3_2, 3)))

    assert outcomes == {(3, 1, 1), (2, 2, 1)}


@pytest.mark.parametrize("count", [0, 4, 10])
def test_draw_stratified_ids_distinct_sorted(count):
    ids = draw_stratified(count, TARGETS_5_3_2, seed=0)

    assert ids.shape == (count,)
    assert np.unique(ids).size == count
    assert ids.tolist() == sorted(ids.tolist())
    assert np.issubdtype(ids.dtype, np.integer)


def test_draw_stratified_full_count_all_ids():
    assert draw_stratified(10, TARGETS_5_3_2, seed=0).tolist() == list(range(10))


def test_draw_stratified_non_contiguous_classes():
    # Classes 3 and 7 with frequencies 4 and 6: count 5 gives exactly 2.0 and 3.0.
    targets = np.array([7, 3, 7, 7, 3, 7, 3, 7, 7, 3])

    ids = draw_stratified(5, targets, seed=0)

    assert int(np.count_nonzero(targets[ids] == 3)) == 2
    assert int(np.count_nonzero(targets[ids] == 7)) == 3


# --- data module: random initial labels ---------------------------------------------


def test_random_initial_labels_seeded(make_identity_dataset):
    dataset = make_identity_dataset(100)

    first = ActiveDataModule(dataset, initial_labels=10, seed=0).labelled_ids
    again = ActiveDataModule(dataset, initial_labels=10, seed=0).labelled_ids
    other = ActiveDataModule(dataset, initial_labels=10, seed=1).labelled_ids

    assert first.tolist() == again.tolist()
    assert first.tolist() != other.tolist()


def test_random_initial_labels_count_range(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(100), initial_labels=10, seed=5)
    ids = datamodule.labelled_ids

    assert datamodule.num_labelled == 10
    assert np.unique(ids).size == 10
    assert ids.min() >= 0
    assert ids.max() < 100


@pytest.mark.parametrize("sampling", ["random", "stratified"])
def test_initial_labels_recorded_round_zero(make_identity_dataset, sampling):
    datamodule = ActiveDataModule(
        make_identity_dataset(30), initial_labels=6, initial_sampling=sampling, seed=0
    )
    rounds = datamodule.label_rounds

    assert set(rounds[datamodule.labelled_ids].tolist()) == {0}
    assert set(rounds[datamodule.pool_ids].tolist()) == {UNLABELLED}
    assert datamodule.current_round == 0


# --- data module: stratified initial labels -----------------------------------------

# 50 items, every fifth one of class 1: 40 of class 0 and 10 of class 1, so 10
# stratified labels are exactly 8 of class 0 and 2 of class 1.
IMBALANCED_TARGETS = [1 if i % 5 == 0 else 0 for i in range(50)]


class TargetsAttributeDataset(Dataset):
    """Dataset with a ``targets`` list, as torchvision datasets have, and bare tensor items."""

    def __init__(self, targets: list[int]) -> None:
        self.targets = targets

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> torch.Tensor:
        return torch.tensor([float(index)])


class MappingDataset(Dataset):
    """Dataset whose items are ``{"features": ..., "label": ...}`` mappings."""

    def __init__(self, targets: list[int]) -> None:
        self.targets_list = targets

    def __len__(self) -> int:
        return len(self.targets_list)

    def __getitem__(self, index: int) -> dict:
        return {"features": torch.tensor([float(index)]), "label": self.targets_list[index]}


def build_imbalanced(layout: str) -> tuple[Dataset, dict]:
    """Build a dataset with IMBALANCED_TARGETS in ``layout`` and the data module kwargs it needs."""
    features = torch.arange(50, dtype=torch.float32).unsqueeze(1)
    if layout == "targets argument":
        # The items' own targets (0..49) differ from the classes given as targets=.
        items = [(features[i], i) for i in range(50)]
        return items, {"targets": IMBALANCED_TARGETS}
    if layout == "targets attribute":
        return TargetsAttributeDataset(IMBALANCED_TARGETS), {}
    if layout == "TensorDataset":
        return TensorDataset(features, torch.tensor(IMBALANCED_TARGETS)), {}
    if layout == "mapping items":
        return MappingDataset(IMBALANCED_TARGETS), {"target_key": "label"}
    if layout == "tuple items":
        return [(features[i], IMBALANCED_TARGETS[i]) for i in range(50)], {}
    raise AssertionError(f"unknown layout {layout}")


LAYOUTS = ["targets argument", "targets attribute", "TensorDataset", "mapping items", "tuple items"]


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("layout", LAYOUTS)
def test_stratified_initial_labels_proportions(layout, seed):
    dataset, kwargs = build_imbalanced(layout)

    datamodule = ActiveDataModule(
        dataset, initial_labels=10, initial_sampling="stratified", seed=seed, **kwargs
    )
    labelled_classes = np.asarray(IMBALANCED_TARGETS)[datamodule.labelled_ids]

    assert datamodule.num_labelled == 10
    assert int(np.count_nonzero(labelled_classes == 0)) == 8
    assert int(np.count_nonzero(labelled_classes == 1)) == 2


def test_stratified_initial_labels_seeded():
    dataset, _ = build_imbalanced("TensorDataset")

    def draw(seed):
        datamodule = ActiveDataModule(
            dataset, initial_labels=10, initial_sampling="stratified", seed=seed
        )
        return datamodule.labelled_ids

    assert draw(0).tolist() == draw(0).tolist()
    assert draw(0).tolist() != draw(1).tolist()


# --- data module: explicit initial ids ----------------------------------------------


@pytest.mark.parametrize(
    "ids", [[7, 1, 3], np.array([7, 1, 3]), (7, 1, 3)], ids=["list", "array", "tuple"]
)
def test_explicit_initial_ids(make_identity_dataset, ids):
    datamodule = ActiveDataModule(make_identity_dataset(10), initial_labels=ids)

    assert datamodule.labelled_ids.tolist() == [1, 3, 7]
    assert datamodule.label_rounds[[1, 3, 7]].tolist() == [0, 0, 0]
    assert datamodule.num_unlabelled == 7


def test_no_initial_labels(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(10))

    assert datamodule.num_labelled == 0
    assert datamodule.current_round == -1
    assert datamodule.pool_ids.tolist() == list(range(10))
