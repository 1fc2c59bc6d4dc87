"""Pool loading that carries each item's dataset id with its batch.

Scores are matched to items by the ids delivered with each batch, never by
position in the loader, so a sampler, a collate function or a distributed
split that reorders items cannot attach a score to the wrong item.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, default_collate

__all__ = ["PoolBatch", "IndexedSubset", "CollateWithIds"]


class PoolBatch(NamedTuple):
    """A pool batch: the dataset's own batch and the dataset ids of its items.

    Attributes:
        ids: Int64 tensor of shape ``(B,)``. ``ids[i]`` is the index, in the
            user's original dataset, of the item in row ``i`` of ``batch``.
        batch: What the dataset's collate function made of the items.
    """

    ids: torch.Tensor
    batch: Any


class IndexedSubset(Dataset):
    """The items of ``dataset`` at ``ids``, each returned as ``(dataset_id, item)``."""

    def __init__(self, dataset: Dataset, ids: Sequence[int] | np.ndarray) -> None:
        self.dataset = dataset
        self.ids = np.asarray(ids, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.ids)

    def __getitem__(self, position: int) -> tuple[int, Any]:
        dataset_id = int(self.ids[position])
        return dataset_id, self.dataset[dataset_id]


class CollateWithIds:
    """Collate ``(dataset_id, item)`` pairs into a :class:`PoolBatch`.

    The items go through ``collate_fn`` (PyTorch's ``default_collate`` when it
    is ``None``) in the order they arrive, and the ids are stacked in that same
    order. ``collate_fn`` must therefore keep the order of the items it gets.
    A collate function that reorders items (for example, sorting sequences by
    length) must be given as the data module's ``pool_collate_fn`` instead: it
    receives the pairs and returns a :class:`PoolBatch` whose ids follow its
    own order.
    """

    def __init__(self, collate_fn: Callable[[list[Any]], Any] | None = None) -> None:
        self.collate_fn = collate_fn if collate_fn is not None else default_collate

    def __call__(self, pairs: list[tuple[int, Any]]) -> PoolBatch:
        ids = torch.tensor([dataset_id for dataset_id, _ in pairs], dtype=torch.int64)
        batch = self.collate_fn([item for _, item in pairs])
        return PoolBatch(ids=ids, batch=batch)
