"""Pool loading that carries each item's dataset id with its batch.

Scores are matched to items by the ids delivered with each batch, never by
position in the loader, so a sampler, a collate function or a distributed
split that reorders items cannot attach a score to the wrong item.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset, DistributedSampler, default_collate

__all__ = ["PoolBatch", "IndexedSubset", "CollateWithIds", "ShardSampler", "is_split"]


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

    def __getitems__(self, positions: list[int]) -> list[tuple[int, Any]]:
        """Return the pairs at ``positions``, in order, as a ``DataLoader`` fetches one batch.

        The items come from the dataset's own ``__getitems__`` where it has one,
        so a dataset that reads a batch at once keeps doing so.
        """
        dataset_ids = self.ids[positions].tolist()
        fetch_batch = getattr(self.dataset, "__getitems__", None)
        if fetch_batch is not None:
            items = fetch_batch(dataset_ids)
        else:
            items = [self.dataset[dataset_id] for dataset_id in dataset_ids]
        return list(zip(dataset_ids, items))


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


def is_split(num_items: int, world_size: int) -> bool:
    """Whether a pass over ``num_items`` items is split across ``world_size`` processes.

    It is when there are several processes and each gets at least one item.
    A smaller pass runs whole on every process, so no process gets an empty
    loader and no item is loaded twice within one process's share.
    """
    return world_size > 1 and num_items >= world_size


class ShardSampler(DistributedSampler):
    """The positions ``0..num_items-1`` that process ``rank`` of ``world_size`` loads, in order.

    Unlike ``torch.utils.data.DistributedSampler`` it never pads: the
    processes get contiguous blocks whose sizes differ by at most one, and
    together they hold each position exactly once. When :func:`is_split` is
    false (one process, or fewer items than processes), every process gets
    all positions. Being a ``DistributedSampler``, Lightning keeps it as it is
    instead of adding its own distributed sampler.
    """

    def __init__(self, num_items: int, rank: int, world_size: int) -> None:
        super().__init__(range(num_items), num_replicas=world_size, rank=rank, shuffle=False)
        if is_split(num_items, world_size):
            block, extra = divmod(num_items, world_size)
            start = rank * block + min(rank, extra)
            self.positions = range(start, start + block + (1 if rank < extra else 0))
        else:
            self.positions = range(num_items)

    def __iter__(self) -> Iterator[int]:
        return iter(self.positions)

    def __len__(self) -> int:
        return len(self.positions)
