"""Streams over a map-style dataset: batches that carry each item's dataset id."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from torch.utils.data import DataLoader, Dataset

from energizer.data.pool import CollateWithIds, IndexedSubset
from energizer.errors import InvalidArgumentError
from energizer.stream._checks import check_positive_int, check_seed

__all__ = ["stream_loader"]


def stream_loader(
    dataset: Dataset,
    batch_size: int,
    *,
    ids: Sequence[int] | np.ndarray | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    collate_fn: Callable[[list[Any]], Any] | None = None,
    num_workers: int = 0,
) -> DataLoader:
    """Build a ``DataLoader`` that streams the items of ``dataset`` once, with their dataset ids.

    Each batch is a :class:`~energizer.data.pool.PoolBatch` ``(ids, batch)``:
    ``ids`` is an int64 tensor of the items' indices in ``dataset`` and
    ``batch`` is what ``collate_fn`` makes of the items. This is the layout
    that :class:`~energizer.stream.StreamLoop` reads.

    Args:
        dataset: A map-style dataset.
        batch_size: Items per batch; the last batch may be smaller.
        ids: Dataset ids to stream, in order. ``None`` streams every item.
        shuffle: Stream the ids in a random order drawn once from ``seed``.
            ``False`` keeps the order of ``ids``.
        seed: Seed of that order. ``None`` draws one from PyTorch's global generator.
        collate_fn: How items become a batch; PyTorch's ``default_collate`` by default.
        num_workers: Loading processes, as for any ``DataLoader``.

    Raises:
        InvalidArgumentError: ``batch_size`` is not a positive integer, ``seed``
            is invalid, or ``ids`` is not a 1-D array of valid dataset ids.
    """
    batch_size = check_positive_int("batch_size", batch_size)
    order = _check_ids(ids, len(dataset))
    if shuffle:
        order = np.random.default_rng(check_seed(seed)).permutation(order)
    return DataLoader(
        IndexedSubset(dataset, order),
        batch_size=batch_size,
        shuffle=False,
        collate_fn=CollateWithIds(collate_fn),
        num_workers=num_workers,
    )


def _check_ids(ids: Any, dataset_length: int) -> np.ndarray:
    if ids is None:
        return np.arange(dataset_length, dtype=np.int64)
    array = np.asarray(ids)
    valid = array.ndim == 1 and (array.size == 0 or np.issubdtype(array.dtype, np.integer))
    if valid and array.size:
        valid = bool(array.min() >= 0 and array.max() < dataset_length)
    if not valid:
        raise InvalidArgumentError(
            "ids",
            f"a 1-D array of integer dataset ids in [0, {dataset_length})",
            f"an array of shape {array.shape} and dtype {array.dtype}",
            "Pass indices into the dataset, or None to stream every item.",
        )
    return array.astype(np.int64)
