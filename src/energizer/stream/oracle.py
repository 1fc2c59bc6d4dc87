"""The research-mode oracle: reveals the labels that a labelled dataset already holds."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Dataset

from energizer.data.targets import check_targets, read_targets
from energizer.errors import InvalidArgumentError

__all__ = ["DatasetOracle"]


class DatasetOracle:
    """Return the stored class of each requested dataset id.

    The stream loop treats the dataset's labels as hidden and calls the
    oracle only with the ids its strategy queried, so a simulated run reads
    no other label. :attr:`num_requests` counts the labels revealed.

    Args:
        dataset: The map-style dataset that the stream's ids index.
        target_key: Where each item stores its class, as for
            ``ActiveDataModule``: ``None`` for ``(inputs, target)`` items or a
            ``targets`` attribute, a key for mapping items.
        targets: The class of every item, shape ``(len(dataset),)``; read
            from the dataset when ``None``.

    Raises:
        InvalidArgumentError: The targets cannot be read, or do not hold one
            integer class per item.
    """

    def __init__(
        self, dataset: Dataset, *, target_key: str | int | None = None, targets: Any = None
    ) -> None:
        if targets is None:
            self._targets = read_targets(dataset, target_key)
        else:
            self._targets = check_targets(targets, len(dataset))
        self.num_requests = 0

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """Return the classes of ``ids`` (dataset ids, shape ``(k,)``) as int64, shape ``(k,)``.

        Raises:
            InvalidArgumentError: An id is outside the dataset.
        """
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        outside = (ids < 0) | (ids >= self._targets.size)
        if outside.any():
            raise InvalidArgumentError(
                "ids",
                f"dataset ids in [0, {self._targets.size})",
                f"{ids[outside][:10].tolist()}",
                "Stream batches whose ids index the oracle's dataset.",
            )
        self.num_requests += int(ids.size)
        return self._targets[ids]
