"""Bad arguments raise InvalidArgumentError, naming the value and the fix, before any work."""

from __future__ import annotations

import math

import numpy as np
import pytest
from stream_helpers import TinyClassifier, blobs, quiet_trainer_kwargs

from energizer.errors import InvalidArgumentError
from energizer.stream import (
    CumulativeBudget,
    DatasetOracle,
    EstimatedBudget,
    FixedUncertainty,
    RandomStream,
    Split,
    StreamLoop,
    VariableUncertainty,
    decide_items,
    stream_loader,
)

BAD_FRACTIONS = [0, -0.1, 1.5, math.nan, math.inf, True, "0.1", None]


@pytest.mark.parametrize("budget", BAD_FRACTIONS)
@pytest.mark.parametrize("manager", [EstimatedBudget, CumulativeBudget])
def test_budget_outside_unit_interval(manager, budget):
    with pytest.raises(
        InvalidArgumentError, match=r"Invalid `budget`: expected a number in \(0, 1\]"
    ):
        manager(budget)


@pytest.mark.parametrize("window", [0, -5, 2.5, True])
def test_window_not_positive_integer(window):
    with pytest.raises(InvalidArgumentError, match="Invalid `window`: expected an integer >= 1"):
        EstimatedBudget(0.1, window=window)


def test_window_shorter_than_one_label():
    with pytest.raises(
        InvalidArgumentError, match="Invalid `window`: expected at least 1 / budget = 100 items"
    ):
        EstimatedBudget(0.01, window=50)


@pytest.mark.parametrize("threshold", [-0.1, math.inf, math.nan, "0.5", None])
def test_fixed_threshold_out_of_range(threshold):
    with pytest.raises(
        InvalidArgumentError, match="Invalid `threshold`: expected a finite number >= 0"
    ):
        FixedUncertainty(threshold)


@pytest.mark.parametrize("threshold", [0, -1.0, math.inf])
def test_variable_initial_threshold_not_positive(threshold):
    with pytest.raises(
        InvalidArgumentError, match="Invalid `initial_threshold`: expected a finite number above 0"
    ):
        VariableUncertainty(initial_threshold=threshold)


@pytest.mark.parametrize("step", [0, 1, 1.5, -0.01])
def test_variable_step_outside_open_interval(step):
    with pytest.raises(
        InvalidArgumentError, match=r"Invalid `step`: expected a number in \(0, 1\)"
    ):
        VariableUncertainty(step=step)


@pytest.mark.parametrize("share", [0, 1, -0.2, 2])
def test_split_share_outside_open_interval(share):
    with pytest.raises(
        InvalidArgumentError, match=r"Invalid `random_share`: expected a number in \(0, 1\)"
    ):
        Split(random_share=share)


@pytest.mark.parametrize("probability", [0, 1.2, -0.5])
def test_random_probability_out_of_range(probability):
    with pytest.raises(InvalidArgumentError, match="Invalid `probability`"):
        RandomStream(probability=probability)


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True])
def test_bad_seed(seed):
    with pytest.raises(InvalidArgumentError, match="Invalid `seed`"):
        Split(seed=seed)


def test_scores_not_finite():
    with pytest.raises(
        InvalidArgumentError,
        match="Invalid `scores`: expected finite scores, received nan at position 1",
    ):
        decide_items(FixedUncertainty(0.5), EstimatedBudget(0.5), np.array([0.1, np.nan]))


def make_loop(**overrides) -> StreamLoop:
    dataset = blobs(20)
    arguments = {
        "model": TinyClassifier(),
        "strategy": VariableUncertainty(),
        "budget": EstimatedBudget(0.1),
        "oracle": DatasetOracle(dataset),
        "update_every_labels": 5,
        "trainer_kwargs": quiet_trainer_kwargs(),
    }
    arguments.update(overrides)
    return StreamLoop(
        arguments.pop("model"),
        arguments.pop("strategy"),
        arguments.pop("budget"),
        arguments.pop("oracle"),
        **arguments,
    )


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"update_every_labels": 0}, "Invalid `update_every_labels`: expected an integer >= 1"),
        ({"update_every_labels": -3}, "Invalid `update_every_labels`: expected an integer >= 1"),
        ({"update_every_labels": None, "update_every_items": -1}, "Invalid `update_every_items`"),
        ({"update_every_labels": 2.5}, "Invalid `update_every_labels`"),
        ({"update_every_labels": None}, "update_every_labels or update_every_items, or both"),
        ({"train_batch_size": 0}, "Invalid `train_batch_size`"),
        ({"model": object()}, "Invalid `model`: expected a lightning.pytorch.LightningModule"),
        (
            {"strategy": "variable"},
            "Invalid `strategy`: expected an energizer.stream StreamStrategy",
        ),
        ({"budget": 0.1}, "Invalid `budget`: expected an energizer.stream BudgetManager"),
        ({"oracle": [1, 2]}, "Invalid `oracle`: expected a callable"),
        ({"score_function": "entropy"}, "Invalid `score_function`"),
        ({"trainer_kwargs": ["max_steps", 3]}, "Invalid `trainer_kwargs`: expected a mapping"),
    ],
)
def test_loop_rejects_bad_arguments(overrides, message):
    with pytest.raises(InvalidArgumentError, match=message):
        make_loop(**overrides)


@pytest.mark.parametrize("stream", [42, "items", {"ids": [1]}, None])
def test_non_iterable_stream(stream):
    loop = make_loop()
    with pytest.raises(InvalidArgumentError, match="Invalid `stream`: expected an iterable of"):
        loop.run(stream)
    assert loop.budget.num_seen == 0


def test_max_items_not_positive():
    loop = make_loop()
    with pytest.raises(InvalidArgumentError, match="Invalid `max_items`"):
        loop.run([], max_items=0)


def test_batch_without_ids():
    dataset = blobs(20)
    plain_batches = [(dataset.tensors[0][:10], dataset.tensors[1][:10])]
    with pytest.raises(
        InvalidArgumentError, match="batches whose first element is a 1-D array of integer"
    ):
        make_loop().run(plain_batches)


def test_stream_loader_rejects_bad_ids():
    with pytest.raises(InvalidArgumentError, match="Invalid `ids`"):
        stream_loader(blobs(10), batch_size=4, ids=[3, 12])


def test_load_state_with_other_budget():
    saved = EstimatedBudget(0.1).state_dict()
    with pytest.raises(InvalidArgumentError, match=r'Invalid `state_dict\["budget"\]`'):
        EstimatedBudget(0.2).load_state_dict(saved)


def test_load_state_missing_keys():
    with pytest.raises(
        InvalidArgumentError, match="Invalid `state_dict`: expected a dict with the keys"
    ):
        Split(seed=0).load_state_dict({"threshold": 0.5})
