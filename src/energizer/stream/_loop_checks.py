"""Checks of the stream loop's arguments, and of the batches and labels that arrive during a run."""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import lightning.pytorch as pl
import numpy as np
from torch import Tensor

from energizer.data.pool import PoolBatch
from energizer.errors import InvalidArgumentError
from energizer.stream._checks import check_positive_int
from energizer.stream.budget import BudgetManager
from energizer.stream.strategies import StreamStrategy


def check_types(model: Any, strategy: Any, budget: Any, oracle: Any, score_function: Any) -> None:
    """Raise unless each argument of ``StreamLoop`` has the type it needs."""
    expected = [
        (
            "model",
            model,
            pl.LightningModule,
            "a lightning.pytorch.LightningModule",
            "Pass the model to train.",
        ),
        (
            "strategy",
            strategy,
            StreamStrategy,
            "an energizer.stream StreamStrategy",
            "Pass e.g. VariableUncertainty() or RandomStream(seed=0).",
        ),
        (
            "budget",
            budget,
            BudgetManager,
            "an energizer.stream BudgetManager",
            "Pass e.g. EstimatedBudget(0.1).",
        ),
    ]
    for name, value, kind, description, fix in expected:
        if not isinstance(value, kind):
            raise InvalidArgumentError(name, description, f"a {type(value).__name__}", fix)
    if not callable(oracle):
        raise InvalidArgumentError(
            "oracle",
            "a callable that takes dataset ids and returns their labels",
            f"a {type(oracle).__name__}",
            "Pass e.g. DatasetOracle(dataset) in research mode.",
        )
    if not callable(score_function):
        raise InvalidArgumentError(
            "score_function",
            "a function from logits (B, C) to scores (B,)",
            f"a {type(score_function).__name__}",
            "Pass e.g. energizer.acquisition.entropy.",
        )


def optional_count(name: str, value: Any) -> int | None:
    """Return ``value`` as an int, or ``None``, raising unless it is ``None`` or an integer >= 1."""
    return None if value is None else check_positive_int(name, value)


def check_trainer_kwargs(trainer_kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return the Trainer arguments as a dict with a list of callbacks that ``copy.deepcopy`` can copy."""
    if trainer_kwargs is None:
        trainer_kwargs = {}
    if not isinstance(trainer_kwargs, Mapping):
        raise InvalidArgumentError(
            "trainer_kwargs",
            "a mapping of lightning.pytorch.Trainer arguments",
            f"a {type(trainer_kwargs).__name__}",
            "Pass e.g. trainer_kwargs={'max_epochs': 20}.",
        )
    kwargs = dict(trainer_kwargs)
    callbacks = kwargs.get("callbacks") or []
    if not isinstance(callbacks, list):
        callbacks = [callbacks]
    for callback in callbacks:
        try:
            copy.deepcopy(callback)
        except Exception as error:
            raise InvalidArgumentError(
                "callbacks",
                "callbacks that copy.deepcopy can copy, so each update starts from a fresh one",
                f"a {type(callback).__name__} that failed to copy ({error})",
                "Keep unpicklable objects such as open files or locks out of the callback's attributes.",
            ) from error
    kwargs["callbacks"] = callbacks
    return kwargs


def iterate(stream: Any) -> Iterator[Any]:
    """Return an iterator over ``stream``, raising unless it is an iterable other than a string or mapping."""
    if not isinstance(stream, (str, bytes, Mapping)):
        try:
            return iter(stream)
        except TypeError:
            pass
    raise InvalidArgumentError(
        "stream",
        "an iterable of (ids, batch) pairs, such as a DataLoader",
        f"a {type(stream).__name__}",
        "Wrap the dataset with energizer.stream.stream_loader(dataset, batch_size=...).",
    )


def split_batch(batch: Any) -> tuple[np.ndarray, Any]:
    """Return a batch's dataset ids as a 1-D int64 array, and the batch without them."""
    if isinstance(batch, PoolBatch):
        ids, data = batch.ids, batch.batch
    elif isinstance(batch, Sequence) and not isinstance(batch, (str, bytes)) and len(batch) == 2:
        ids, data = batch
    else:
        raise InvalidArgumentError(
            "stream",
            "batches that are (ids, batch) pairs",
            f"a batch of type {type(batch).__name__}",
            "Stream with energizer.stream.stream_loader, or yield (ids, batch) pairs.",
        )
    if isinstance(ids, Tensor):
        ids = ids.detach().cpu().numpy()
    array = np.asarray(ids)
    if array.ndim != 1 or not (array.size == 0 or np.issubdtype(array.dtype, np.integer)):
        raise InvalidArgumentError(
            "stream",
            "batches whose first element is a 1-D array of integer dataset ids",
            f"ids of shape {array.shape} and dtype {array.dtype}",
            "Stream with energizer.stream.stream_loader, which adds the ids to each batch.",
        )
    return array.astype(np.int64), data


def check_labels(labels: Any, count: int) -> np.ndarray:
    """Return the oracle's output as an array, raising unless it contains ``count`` labels."""
    if isinstance(labels, Tensor):
        labels = labels.detach().cpu().numpy()
    array = np.asarray(labels)
    if array.shape[:1] != (count,):
        raise InvalidArgumentError(
            "oracle",
            f"one label per queried id, an array of {count} labels",
            f"an output of shape {array.shape}",
            "Make the oracle return the labels of exactly the ids it receives, in their order.",
        )
    return array
