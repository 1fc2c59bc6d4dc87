"""Tests for saving and restoring the labelled state, and for detecting a changed dataset."""

from __future__ import annotations

import json
import re

import pytest

from energizer.data import ActiveDataModule
from energizer.errors import DatasetChangedError, InvalidArgumentError


def labelled_datamodule(dataset, seed: int = 0) -> ActiveDataModule:
    """Return a data module with two rounds labelled and a 20% validation hold-out."""
    datamodule = ActiveDataModule(dataset, initial_labels=10, val_fraction=0.2, seed=seed)
    datamodule.label(datamodule.pool_ids[:10])
    return datamodule


def test_state_round_trip_restores_labels(make_identity_dataset):
    dataset = make_identity_dataset(100)
    source = labelled_datamodule(dataset)
    restored = ActiveDataModule(dataset, val_fraction=0.2, seed=99)

    restored.load_state_dict(json.loads(json.dumps(source.state_dict())))

    assert restored.label_rounds.tolist() == source.label_rounds.tolist()
    assert restored.val_ids.tolist() == source.val_ids.tolist()
    assert restored.train_ids.tolist() == source.train_ids.tolist()
    assert restored.current_round == source.current_round == 1


def test_state_round_trip_restores_rng(make_identity_dataset):
    dataset = make_identity_dataset(100)
    source = labelled_datamodule(dataset)
    restored = ActiveDataModule(dataset, val_fraction=0.2, seed=99)
    restored.load_state_dict(json.loads(json.dumps(source.state_dict())))
    # Labelling 30 more items holds out 6 of them, and a generator in another
    # state would almost never pick the same 6.
    next_ids = source.pool_ids[:30]

    source.label(next_ids)
    restored.label(next_ids)

    assert restored.num_val == 10
    assert restored.val_ids.tolist() == source.val_ids.tolist()


def test_state_is_json_serialisable(make_identity_dataset):
    state = labelled_datamodule(make_identity_dataset(100)).state_dict()

    assert json.loads(json.dumps(state)) == state


def test_state_records_length_and_fraction(make_identity_dataset):
    state = labelled_datamodule(make_identity_dataset(100)).state_dict()

    assert state["dataset_length"] == 100
    assert state["val_fraction"] == 0.2
    assert len(state["label_rounds"]) == 100


def test_load_state_other_length(make_identity_dataset):
    state = labelled_datamodule(make_identity_dataset(50)).state_dict()
    target = ActiveDataModule(make_identity_dataset(40), initial_labels=[1, 2])
    message = "The saved state is for a dataset of 50 items, but this data module's dataset has 40."

    with pytest.raises(DatasetChangedError, match=re.escape(message)):
        target.load_state_dict(state)

    assert target.labelled_ids.tolist() == [1, 2]


# --- check_dataset_unchanged --------------------------------------------------------


def test_unchanged_dataset_passes(make_list_dataset):
    datamodule = ActiveDataModule(make_list_dataset(list(range(10))), initial_labels=[0])

    datamodule.check_dataset_unchanged()


@pytest.mark.parametrize("change, new_length", [("append", 11), ("pop", 9)])
def test_changed_dataset_raises(make_list_dataset, change, new_length):
    items = list(range(10))
    datamodule = ActiveDataModule(make_list_dataset(items), initial_labels=[0])
    if change == "append":
        items.append(10)
    else:
        items.pop()
    message = f"The dataset has {new_length} items but the labelled state was built for 10."

    with pytest.raises(DatasetChangedError, match=re.escape(message)):
        datamodule.check_dataset_unchanged()


def test_load_state_other_val_fraction(make_identity_dataset):
    dataset = make_identity_dataset(100)
    state = labelled_datamodule(dataset).state_dict()
    target = ActiveDataModule(dataset, seed=0)
    with pytest.raises(InvalidArgumentError, match=r"Invalid `val_fraction`: expected the value the state was saved with \(0.2\), received None"):
        target.load_state_dict(state)
    assert target.num_labelled == 0


@pytest.mark.parametrize(
    "rounds",
    [[0] * 99, [-2] + [0] * 99],
    ids=["too short", "round below unlabelled"],
)
def test_load_state_malformed_rounds(make_identity_dataset, rounds):
    dataset = make_identity_dataset(100)
    state = labelled_datamodule(dataset).state_dict()
    state["label_rounds"] = rounds
    target = ActiveDataModule(dataset, val_fraction=0.2, seed=0)
    with pytest.raises(InvalidArgumentError, match=r"Invalid `state_dict`: expected label_rounds"):
        target.load_state_dict(state)
    assert target.num_labelled == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda state: state.pop("rng_state"), r"a mapping without \['rng_state'\]"),
        (lambda state: state.update(validation_ids=[-1]), r"expected validation_ids that are labelled items"),
        (lambda state: state.update(validation_ids=[99]), r"expected validation_ids that are labelled items"),
    ],
    ids=["missing key", "negative id", "unlabelled id"],
)
def test_load_state_corrupt(make_identity_dataset, change, message):
    dataset = make_identity_dataset(100)
    source = labelled_datamodule(dataset)
    state = source.state_dict()
    state["label_rounds"][99] = -1
    change(state)
    target = ActiveDataModule(dataset, val_fraction=0.2, seed=0)
    with pytest.raises(InvalidArgumentError, match=message):
        target.load_state_dict(state)
    assert target.num_labelled == 0
