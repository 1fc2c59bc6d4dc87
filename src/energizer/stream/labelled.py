"""The labelled items of a stream, kept one by one in the dataset's layout, with the oracle's labels."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from numbers import Number
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, default_collate

__all__ = ["LabelledItems"]


class LabelledItems:
    """Items labelled during a stream, ready to train on.

    A stream item is seen once, so the store keeps a copy of every labelled
    item: its row of the batch, with the target replaced by the oracle's
    label. The row keeps the batch's layout, so the model's ``training_step``
    reads it as it reads the dataset's own batches. The label goes where
    ``QueryStrategy.get_inputs_from_batch`` expects the target:

    - a mapping gets it under ``target_key``;
    - a tuple or list gets it at position ``target_key`` when that is an int,
      or at position 1 of an ``(inputs, target)`` pair when it is ``None``;
    - anything else becomes ``(item, label)``.

    A row takes index ``i`` of every tensor and array whose first dim is the
    batch size, and element ``i`` of every list or tuple of strings or
    numbers as long as the batch. Other values are kept whole.

    Args:
        target_key: Where the items store their target; ``None`` for
            ``(inputs, target)`` pairs.
    """

    def __init__(self, target_key: str | int | None = None) -> None:
        self.target_key = target_key
        self._items: list[Any] = []
        self._ids: list[int] = []
        self._id_set: set[int] = set()

    def __len__(self) -> int:
        return len(self._items)

    @property
    def ids(self) -> np.ndarray:
        """Dataset ids of the labelled items, in the order they were labelled, int64 of shape ``(N,)``."""
        return np.asarray(self._ids, dtype=np.int64)

    def contains(self, ids: np.ndarray) -> np.ndarray:
        """Return a boolean mask of shape ``ids.shape``: which dataset ids are already labelled."""
        return np.fromiter((int(i) in self._id_set for i in ids), dtype=bool, count=len(ids))

    def add(
        self,
        ids: np.ndarray,
        batch: Any,
        positions: np.ndarray,
        labels: np.ndarray,
        batch_size: int,
    ) -> None:
        """Store the items at ``positions`` of ``batch`` under ``ids``, with ``labels`` as their targets.

        Args:
            ids: Dataset ids of the items, shape ``(k,)``.
            batch: The batch the items came in, without the ids.
            positions: Row of each item in ``batch``, shape ``(k,)``.
            labels: The oracle's label of each item, shape ``(k,)``.
            batch_size: Number of rows of ``batch``.
        """
        for dataset_id, position, label in zip(ids, positions, labels):
            row = _take_row(batch, int(position), batch_size)
            self._items.append(_with_label(row, torch.as_tensor(label), self.target_key))
            self._ids.append(int(dataset_id))
            self._id_set.add(int(dataset_id))

    def dataloader(
        self,
        batch_size: int,
        collate_fn: Callable[[list[Any]], Any] | None = None,
        generator: torch.Generator | None = None,
    ) -> DataLoader:
        """Return a shuffled ``DataLoader`` over the labelled items."""
        return DataLoader(
            self._items,
            batch_size=batch_size,
            shuffle=True,
            collate_fn=collate_fn if collate_fn is not None else default_collate,
            generator=generator,
        )


def _take_row(value: Any, position: int, batch_size: int) -> Any:
    """Return row ``position`` of a collated batch, copied so that the batch can be freed."""
    if isinstance(value, torch.Tensor):
        if value.ndim and value.shape[0] == batch_size:
            return value[position].detach().cpu().clone()
        return value
    if isinstance(value, np.ndarray):
        return value[position].copy() if value.ndim and value.shape[0] == batch_size else value
    if isinstance(value, Mapping):
        return {key: _take_row(entry, position, batch_size) for key, entry in value.items()}
    if isinstance(value, tuple) and hasattr(value, "_fields"):
        return type(value)(*(_take_row(entry, position, batch_size) for entry in value))
    if isinstance(value, (list, tuple)):
        if len(value) == batch_size and all(
            isinstance(entry, (str, bytes, Number)) for entry in value
        ):
            return value[position]
        return type(value)(_take_row(entry, position, batch_size) for entry in value)
    return value


def _with_label(item: Any, label: torch.Tensor, target_key: str | int | None) -> Any:
    """Return ``item`` with its target replaced by ``label``, following the layouts in :class:`LabelledItems`."""
    if isinstance(item, Mapping) and target_key is not None:
        return {**item, target_key: label}
    if isinstance(item, Sequence) and not isinstance(item, (str, bytes)):
        if isinstance(target_key, int) and -len(item) <= target_key < len(item):
            position = target_key % len(item)
            return tuple(label if index == position else entry for index, entry in enumerate(item))
        if target_key is None and len(item) == 2:
            return (item[0], label)
    return (item, label)
