"""The research-mode annotator: reveals the labels that a labelled dataset already contains."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Dataset

from energizer.annotators.base import Annotations, Annotator
from energizer.data.targets import check_targets, read_targets
from energizer.errors import InvalidArgumentError

__all__ = ["OracleAnnotator"]


class OracleAnnotator(Annotator):
    """Return the stored class of each requested id as soon as it is requested.

    The first :meth:`collect` after a :meth:`request` returns every label,
    so the loop reads no label it did not query. :attr:`num_revealed` counts
    the labels returned.

    Args:
        targets: The class of every dataset item, shape ``(len(dataset),)``,
            integers.

    Raises:
        InvalidArgumentError: ``targets`` is not a 1-D integer array.
    """

    def __init__(self, targets: Any) -> None:
        super().__init__()
        shape = tuple(targets.shape) if hasattr(targets, "shape") else np.shape(targets)
        if len(shape) != 1:
            raise InvalidArgumentError(
                "targets",
                "one class per dataset item, shape (N,)",
                f"an array of shape {shape}",
                "Pass the class of every item as a 1-D sequence of integers.",
            )
        self._targets = check_targets(targets, shape[0])
        self.num_revealed = 0

    @classmethod
    def from_dataset(cls, dataset: Dataset, target_key: str | int | None = None) -> OracleAnnotator:
        """Build the oracle from a dataset's targets, read as ``ActiveDataModule`` reads them.

        ``target_key`` is ``None`` for ``(inputs, target)`` items or a
        ``targets`` attribute, and the target's key for mapping items.
        """
        return cls(read_targets(dataset, target_key))

    def _send(
        self, ids: np.ndarray, predictions: np.ndarray | None, scores: np.ndarray | None
    ) -> None:
        outside = ids >= self._targets.size
        if outside.any():
            raise InvalidArgumentError(
                "ids",
                f"dataset ids in [0, {self._targets.size})",
                ids[outside][:10].tolist(),
                "Request ids that index the dataset whose targets the oracle stores.",
            )

    def _poll(self, deadline: float | None) -> Annotations:
        pending = self.pending_ids
        self.num_revealed += int(pending.size)
        return Annotations(labels=dict(zip(pending.tolist(), self._targets[pending].tolist())))
