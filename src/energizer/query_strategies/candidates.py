"""A running top-m buffer of pool candidates, for batch-aware strategies."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import Tensor

if TYPE_CHECKING:
    from energizer.loop.ranks import Ranks

__all__ = ["CandidateBuffer"]


class CandidateBuffer:
    """The ``capacity`` best-scoring pool items seen so far, each with a tensor of features.

    Batch-aware strategies keep what their selection needs (for example
    Monte Carlo logits) for these candidates only, so memory grows with
    ``capacity`` instead of the pool. Among equal scores the lower dataset id
    is kept. ``capacity=None`` keeps every item. Features are stored on the
    CPU.
    """

    def __init__(self, capacity: int | None) -> None:
        self.capacity = capacity
        self._ids = np.empty(0, dtype=np.int64)
        self._scores = np.empty(0, dtype=np.float64)
        self._features: Tensor | None = None
        self._pending: list[tuple[np.ndarray, np.ndarray, Tensor]] = []

    def add(self, ids: Tensor, scores: Tensor, features: Tensor) -> None:
        """Offer the items ``ids`` with their ``scores`` (shape ``(B,)``) and ``features`` (``(B, ...)``)."""
        self._pending.append(
            (
                ids.detach().cpu().numpy().astype(np.int64),
                scores.detach().to(torch.float64).cpu().numpy(),
                features.detach().cpu(),
            )
        )
        pending_rows = sum(len(batch_ids) for batch_ids, _, _ in self._pending)
        if self.capacity is None or pending_rows >= self.capacity:
            self._merge()

    def result(self) -> tuple[np.ndarray, np.ndarray, Tensor]:
        """Return the kept ``(ids, scores, features)``, sorted by ascending dataset id."""
        self._merge()
        if self._features is None:
            return self._ids, self._scores, torch.empty(0)
        order = np.argsort(self._ids, kind="stable")
        return self._ids[order], self._scores[order], self._features[torch.from_numpy(order)]

    def gather(self, ranks: Ranks) -> None:
        """Keep the ``capacity`` best candidates of every process.

        Each process sends only its own kept candidates, so the exchange is
        at most ``capacity`` rows per process. Ties break by dataset id as in
        one process, so the result is the same as one process's.
        """
        ids, scores, features = self.result()
        ids, columns = ranks.gather_rows(ids, {"scores": torch.from_numpy(scores), "features": features})
        self._ids, self._scores = np.empty(0, dtype=np.int64), np.empty(0, dtype=np.float64)
        self._features = None
        self._pending = [(ids, columns["scores"].numpy(), columns["features"])]
        self._merge()

    def _merge(self) -> None:
        if not self._pending:
            return
        parts_ids = [self._ids] + [batch_ids for batch_ids, _, _ in self._pending]
        parts_scores = [self._scores] + [batch_scores for _, batch_scores, _ in self._pending]
        parts_features = ([self._features] if self._features is not None else []) + [
            batch_features for _, _, batch_features in self._pending
        ]
        self._pending = []
        ids = np.concatenate(parts_ids)
        scores = np.concatenate(parts_scores)
        features = torch.cat(parts_features)
        if self.capacity is not None and len(ids) > self.capacity:
            # Best score first, then lower id; keep the first `capacity` rows.
            keep = np.lexsort((ids, -scores))[: self.capacity]
            ids, scores, features = ids[keep], scores[keep], features[torch.from_numpy(keep)]
        self._ids, self._scores, self._features = ids, scores, features
