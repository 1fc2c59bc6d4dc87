"""Collecting per-item feature rows (embeddings, logits) of a predict pass, keyed by dataset id."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

from energizer.errors import InvalidScoresError

if TYPE_CHECKING:
    from energizer.loop.ranks import Ranks

__all__ = ["PoolFeatures"]


class PoolFeatures:
    """Named feature rows of the items seen in a predict pass, stored by dataset id on the CPU.

    Memory is one row per item and feature, for example ``N * D`` floats for
    embeddings of width ``D``.
    """

    def __init__(self) -> None:
        self._ids: list[np.ndarray] = []
        self._features: dict[str, list[Tensor]] = {}

    def __len__(self) -> int:
        return sum(batch_ids.size for batch_ids in self._ids)

    def add(self, ids: Tensor, features: dict[str, Tensor]) -> None:
        """Store row ``i`` of every tensor in ``features`` as a feature of dataset id ``ids[i]``."""
        self._ids.append(ids.detach().cpu().numpy().astype(np.int64, copy=False))
        for name, values in features.items():
            self._features.setdefault(name, []).append(values.detach().cpu())

    def ids(self) -> np.ndarray:
        """Return the sorted dataset ids seen so far."""
        return np.sort(np.concatenate(self._ids)) if self._ids else np.empty(0, dtype=np.int64)

    def gather(self, ranks: Ranks) -> None:
        """Replace the rows seen by this process with those seen by every process."""
        ids = np.concatenate(self._ids) if self._ids else np.empty(0, dtype=np.int64)
        features = {name: torch.cat(parts) for name, parts in self._features.items()}
        ids, features = ranks.gather_rows(ids, features)
        self._ids = [ids]
        self._features = {name: [values] for name, values in features.items()}

    def aligned_to(self, ids: np.ndarray, *, round_index: int) -> dict[str, Tensor]:
        """Return each feature's rows for ``ids``, in that order.

        Raises:
            InvalidScoresError: When an item was seen twice or never, when an
                id outside ``ids`` was seen, or when a value is NaN or infinite.
        """
        seen = np.concatenate(self._ids) if self._ids else np.empty(0, dtype=np.int64)
        order = np.argsort(seen, kind="stable")
        sorted_ids = seen[order]
        repeated = sorted_ids[1:][sorted_ids[1:] == sorted_ids[:-1]]
        if repeated.size:
            raise InvalidScoresError(
                f"Items were embedded more than once in round {round_index} (dataset ids "
                f"{np.unique(repeated)[:10].tolist()}). The loader must yield each item once: "
                "check its sampler and pool_collate_fn."
            )
        if not np.array_equal(sorted_ids, np.sort(ids)):
            missing = np.setdiff1d(ids, sorted_ids)
            foreign = np.setdiff1d(sorted_ids, ids)
            raise InvalidScoresError(
                f"The embedded ids do not match the items to query from in round {round_index}: "
                f"{missing.size} items were not embedded (e.g. {missing[:10].tolist()}) and "
                f"{foreign.size} embedded ids are not among them (e.g. {foreign[:10].tolist()}). "
                "Query through Trainer.query or Trainer.active_fit, which run the predict "
                "pass first, and make the loader yield every item once with its dataset id."
            )
        # Position of each requested id among the seen rows.
        rows = torch.from_numpy(order[np.searchsorted(sorted_ids, ids)])
        aligned = {name: torch.cat(parts)[rows] for name, parts in self._features.items()}
        for name, values in aligned.items():
            bad = ~torch.isfinite(values.reshape(values.shape[0], -1)).all(dim=1)
            if bool(bad.any()):
                raise InvalidScoresError(
                    f"The {name} of {int(bad.sum())} of {values.shape[0]} items are NaN or "
                    f"infinite in round {round_index} (dataset ids "
                    f"{np.asarray(ids)[bad.numpy()][:10].tolist()}). Check the model for a "
                    "diverged training (NaN weights or outputs)."
                )
        return aligned
