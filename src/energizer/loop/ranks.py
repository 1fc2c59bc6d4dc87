"""The processes of a distributed run, seen from one of them: share, gather and broadcast.

Under Lightning's DDP every process runs the same active learning loop. Each
process scores its own share of the pool. The shares are gathered by dataset
id, so every process has the scores of the whole pool, and every process
labels the ids that process 0 queries. With one process every step here is
a no-op.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar

import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor

from energizer.data.pool import is_split

__all__ = ["Ranks"]

T = TypeVar("T")


class Ranks:
    """The rank of this process and the collectives of a Lightning ``Trainer``'s strategy.

    Only public Lightning calls are used: ``Trainer.global_rank``,
    ``Trainer.world_size``, ``Strategy.all_gather`` and ``Strategy.broadcast``.
    Collectives need the process group, which Lightning starts in the
    trainer's first ``fit``, ``test`` or ``predict``. Every process must make
    the same collective calls in the same order, or they wait for each other
    forever.
    """

    def __init__(self, trainer: pl.Trainer) -> None:
        self.trainer = trainer
        self.rank = int(trainer.global_rank)
        self.world_size = int(trainer.world_size)

    @property
    def connected(self) -> bool:
        """Whether this process is connected to others: several processes, and Lightning has started them.

        A trainer starts its processes in its first ``fit``, ``test`` or
        ``predict``. Until then this process is alone, and the collectives
        return its own values.
        """
        return self.world_size > 1 and torch.distributed.is_available() and torch.distributed.is_initialized()

    def loader_share(self) -> dict[str, int]:
        """Keyword arguments that make a data module loader hold this process's share only."""
        return {"rank": self.rank, "world_size": self.world_size} if self.world_size > 1 else {}

    def splits(self, num_items: int) -> bool:
        """Whether a pass over ``num_items`` items is split, so its results must be gathered."""
        return is_split(num_items, self.world_size)

    def gather_rows(
        self, ids: np.ndarray, columns: Mapping[str, Tensor]
    ) -> tuple[np.ndarray, dict[str, Tensor]]:
        """Concatenate the rows of every process: their dataset ids and each named column.

        Each process passes its own ``ids`` (shape ``(n,)``) and, per name, a
        tensor with ``n`` rows. Row counts may differ between processes, but
        the rest of each column's shape may not. Returns the rows of process
        0, then process 1, and so on, on the CPU. Processes exchange only
        these rows, padded to the longest share.
        """
        columns = dict(columns)
        if not self.connected:
            return ids, columns
        counts = self._all_gather(torch.tensor([len(ids)], dtype=torch.int64)).reshape(-1).tolist()
        longest = max(counts)

        def gather(values: Tensor) -> Tensor:
            padded = values.new_zeros((longest, *values.shape[1:]))
            padded[: len(values)] = values
            stacked = self._all_gather(padded)
            return torch.cat([stacked[rank, :count] for rank, count in enumerate(counts)])

        gathered_ids = gather(torch.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))).numpy()
        return gathered_ids, {name: gather(values) for name, values in sorted(columns.items())}

    def broadcast(self, value: T) -> T:
        """Return process 0's ``value`` on every process (any picklable object)."""
        if not self.connected:
            return value
        return self.trainer.strategy.broadcast(value, src=0)

    def all_true(self, flag: bool) -> bool:
        """Return, on every process, whether ``flag`` is true on all of them."""
        if not self.connected:
            return bool(flag)
        return bool(self._all_gather(torch.tensor([int(bool(flag))])).all())

    def _all_gather(self, tensor: Tensor) -> Tensor:
        # NCCL gathers device tensors only, while Gloo takes CPU tensors as they are.
        device = self.trainer.strategy.root_device
        return self.trainer.strategy.all_gather(tensor.to(device)).cpu()

