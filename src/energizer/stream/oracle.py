"""The research-mode oracle: reveals the labels that a labelled dataset already holds."""

from __future__ import annotations

from typing import Any

import numpy as np
from torch.utils.data import Dataset

from energizer.data.targets import check_targets, read_targets
from energizer.annotators.base import Annotator
from energizer.errors import InvalidArgumentError

__all__ = ["AnnotatorOracle", "DatasetOracle", "SKIPPED"]

SKIPPED = -1
"""Label an oracle returns for an id that people skipped: the item stays unlabelled."""


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


class AnnotatorOracle:
    """Ask an :class:`~energizer.annotators.Annotator` for the labels of the queried ids, and wait.

    With it, a stream run takes its labels from people, through a labelling
    file or Label Studio, instead of a labelled dataset. Each call requests
    the ids, then collects until every one of them has an outcome or
    ``timeout`` seconds have passed. Ids that people skipped, and ids still
    unanswered at the timeout, come back as :data:`SKIPPED`: the stream loop
    leaves them unlabelled, and the timed-out ones are cancelled, so a label
    that arrives after its item has passed is never applied.

    Args:
        annotator: Where the labels come from.
        timeout: Seconds to wait per call; ``None`` waits for every id.
    """

    def __init__(self, annotator: Annotator, *, timeout: float | None = None) -> None:
        if not isinstance(annotator, Annotator):
            raise InvalidArgumentError(
                "annotator",
                "an energizer.annotators.Annotator",
                f"a {type(annotator).__name__}",
                "Pass e.g. FileAnnotator('labels.csv') or LabelStudioAnnotator(...).",
            )
        if timeout is not None and not timeout >= 0:
            raise InvalidArgumentError("timeout", "None or a number of seconds >= 0", repr(timeout), "Pass e.g. timeout=600.")
        self.annotator = annotator
        self.timeout = timeout

    def __call__(self, ids: np.ndarray) -> np.ndarray:
        """Return the class of each of ``ids``, or :data:`SKIPPED`, as int64 of shape ``(k,)``."""
        ids = np.asarray(ids, dtype=np.int64).reshape(-1)
        self.annotator.request(ids)
        labels: dict[int, int] = {}
        outcomes: set[int] = set()
        # An id the annotator labelled before is not requested again, so only pending ids can answer.
        wanted = set(np.intersect1d(ids, self.annotator.pending_ids).tolist())
        while True:
            found = self.annotator.collect(timeout=self.timeout)
            labels.update(found.labels)
            outcomes.update(found.labels, found.returned)
            if wanted <= outcomes or self.timeout is not None:
                break
        unanswered = np.array(sorted(wanted - outcomes), dtype=np.int64)
        if unanswered.size:
            self.annotator.cancel(unanswered)
        return np.array([labels.get(int(item), SKIPPED) for item in ids], dtype=np.int64)
