"""Tests for ActiveDataModule.label: rounds, id lists, errors and the validation hold-out."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch

from energizer.data import ActiveDataModule
from energizer.errors import InvalidArgumentError, LabellingError


def assert_consistent(datamodule: ActiveDataModule, labelled: set[int], length: int) -> None:
    """Check every id list and count of ``datamodule`` against the set of labelled ids."""
    everything = set(range(length))
    train = set(datamodule.train_ids.tolist())
    validation = set(datamodule.val_ids.tolist())

    assert datamodule.labelled_ids.tolist() == sorted(labelled)
    assert datamodule.pool_ids.tolist() == sorted(everything - labelled)
    assert train | validation == labelled
    assert not train & validation
    id_lists = (
        datamodule.labelled_ids,
        datamodule.pool_ids,
        datamodule.train_ids,
        datamodule.val_ids,
    )
    for ids in id_lists:
        assert isinstance(ids, np.ndarray)
        assert np.issubdtype(ids.dtype, np.integer)
        assert ids.tolist() == sorted(ids.tolist())
    assert datamodule.num_labelled == len(labelled)
    assert datamodule.num_unlabelled == length - len(labelled)
    assert datamodule.num_train == len(train)
    assert datamodule.num_val == len(validation)


# --- recorded rounds ----------------------------------------------------------------


def test_label_default_round_increments(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(20), initial_labels=[0, 1])

    datamodule.label([5, 6])
    datamodule.label([9])

    rounds = datamodule.label_rounds
    assert rounds[[0, 1]].tolist() == [0, 0]
    assert rounds[[5, 6]].tolist() == [1, 1]
    assert rounds[9] == 2
    assert datamodule.current_round == 2


def test_label_explicit_round(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(20), initial_labels=[0])

    datamodule.label([3], round=5)
    datamodule.label([4])

    assert datamodule.label_rounds[3] == 5
    assert datamodule.label_rounds[4] == 6
    assert datamodule.current_round == 6


def test_first_label_is_round_zero(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(10))

    datamodule.label([2, 4])

    assert datamodule.label_rounds[[2, 4]].tolist() == [0, 0]
    assert datamodule.current_round == 0


def test_label_accepts_tensor_ids(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(10))

    datamodule.label(torch.tensor([8, 1]))

    assert datamodule.labelled_ids.tolist() == [1, 8]


def test_label_empty_ids_changes_nothing(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(10), initial_labels=[3])
    before = datamodule.label_rounds

    datamodule.label([])

    assert datamodule.label_rounds.tolist() == before.tolist()
    assert datamodule.current_round == 0


def test_label_rounds_is_a_copy(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(10))

    datamodule.label_rounds[:] = 4

    assert datamodule.num_labelled == 0


@pytest.mark.parametrize("val_fraction", [None, 0.25])
def test_ids_consistent_after_calls(make_identity_dataset, val_fraction):
    datamodule = ActiveDataModule(
        make_identity_dataset(40), initial_labels=[0, 10, 20, 30], val_fraction=val_fraction, seed=0
    )
    labelled = {0, 10, 20, 30}
    assert_consistent(datamodule, labelled, 40)

    for ids in ([1, 2, 3], [39, 11], [5, 6, 7, 8, 9, 12, 13]):
        datamodule.label(ids)
        labelled |= set(ids)
        assert_consistent(datamodule, labelled, 40)

    assert datamodule.current_round == 3


# --- errors -------------------------------------------------------------------------

# Each bad call also carries the valid, unlabelled id 5, which must stay unlabelled.
# The data module has 10 items, with 0 and 1 labelled.
BAD_LABEL_CALLS = [
    ("negative id", [5, -1], {}, "expected ids in [0, 9], received [-1]"),
    ("id equal to length", [5, 10], {}, "expected ids in [0, 9], received [10]"),
    ("repeated ids", [5, 2, 2], {}, "expected distinct ids, received repeated ids [2]"),
    ("already labelled", [5, 1], {}, "1 of them are already labelled (for example [1])"),
    ("float ids", [5.0, 6.0], {}, "expected integer dataset ids, received dtype float64"),
    (
        "2-D ids",
        [[5, 6], [7, 8]],
        {},
        "expected a flat sequence of dataset ids, received an array of shape (2, 2)",
    ),
    ("scalar id", 5, {}, "expected a flat sequence of dataset ids, received the single value 5"),
    (
        "negative round",
        [5],
        {"round": -1},
        "Invalid `round`: expected an integer >= 0, received -1",
    ),
]


@pytest.mark.parametrize(
    "ids, kwargs, message",
    [case[1:] for case in BAD_LABEL_CALLS],
    ids=[case[0] for case in BAD_LABEL_CALLS],
)
def test_label_rejects_bad_call(make_identity_dataset, ids, kwargs, message):
    datamodule = ActiveDataModule(
        make_identity_dataset(10), initial_labels=[0, 1], val_fraction=0.5, seed=0
    )
    rounds_before = datamodule.label_rounds
    state_before = datamodule.state_dict()

    with pytest.raises(LabellingError, match=re.escape(message)):
        datamodule.label(ids, **kwargs)

    assert datamodule.label_rounds.tolist() == rounds_before.tolist()
    assert datamodule.state_dict() == state_before


def test_labelling_error_is_value_error():
    assert issubclass(LabellingError, ValueError)


def test_label_rejects_float_round(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(10))

    with pytest.raises(ValueError, match="round"):
        datamodule.label([5], round=1.5)


# --- validation hold-out ------------------------------------------------------------


def test_val_fraction_share_across_calls(make_identity_dataset):
    datamodule = ActiveDataModule(
        make_identity_dataset(100), initial_labels=10, val_fraction=0.2, seed=0
    )
    assert datamodule.num_val == 2

    # After each call the share is round(0.2 * labelled): 20 -> 4, 30 -> 6, 40 -> 8, 50 -> 10.
    for expected_val in (4, 6, 8, 10):
        datamodule.label(datamodule.pool_ids[:10])
        assert datamodule.num_val == expected_val
        assert datamodule.num_train == datamodule.num_labelled - expected_val


def test_val_hold_out_from_new_ids(make_identity_dataset):
    datamodule = ActiveDataModule(
        make_identity_dataset(100), initial_labels=10, val_fraction=0.2, seed=0
    )

    for _ in range(4):
        held_out_before = set(datamodule.val_ids.tolist())
        new_ids = datamodule.pool_ids[:10]
        datamodule.label(new_ids)
        added = set(datamodule.val_ids.tolist()) - held_out_before
        assert held_out_before <= set(datamodule.val_ids.tolist())
        assert added <= set(new_ids.tolist())


@pytest.mark.parametrize("val_fraction", [0.5, 0.9, 0.99])
def test_val_hold_out_keeps_train_item(make_identity_dataset, val_fraction):
    datamodule = ActiveDataModule(make_identity_dataset(10), val_fraction=val_fraction, seed=0)

    for item in range(6):
        datamodule.label([item])
        assert datamodule.num_train >= 1


def test_val_hold_out_in_state_dict(make_identity_dataset):
    datamodule = ActiveDataModule(
        make_identity_dataset(50), initial_labels=20, val_fraction=0.2, seed=0
    )
    state = datamodule.state_dict()

    assert state["validation_ids"] == datamodule.val_ids.tolist()
    assert len(state["validation_ids"]) == 4
    assert state["val_fraction"] == 0.2


def test_val_fraction_with_val_dataset(make_identity_dataset):
    message = "Invalid `val_fraction`: expected None when val_dataset is given, received 0.2"

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        ActiveDataModule(
            make_identity_dataset(10), val_dataset=make_identity_dataset(3), val_fraction=0.2
        )


@pytest.mark.parametrize(
    "val_fraction, shown",
    [(0, "0"), (1, "1"), (-0.1, "-0.1"), (1.5, "1.5"), ("0.2", "0.2"), (True, "True")],
)
def test_val_fraction_invalid(make_identity_dataset, val_fraction, shown):
    message = (
        f"Invalid `val_fraction`: expected a number strictly between 0 and 1, received {shown}."
    )

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        ActiveDataModule(make_identity_dataset(10), val_fraction=val_fraction)


def test_no_val_fraction_holds_out_nothing(make_identity_dataset):
    datamodule = ActiveDataModule(make_identity_dataset(20), initial_labels=10, seed=0)

    datamodule.label(datamodule.pool_ids[:5])

    assert datamodule.num_val == 0
    assert datamodule.num_train == 15
