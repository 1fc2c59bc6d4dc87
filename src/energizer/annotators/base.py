"""The annotator interface: who supplies the labels of the queried dataset ids.

Every id in this package is a dataset id, an index into the user's original
dataset, as the data module and the strategies use. A class is an index
into the annotator's class names (or a plain class number when it has none).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from energizer.annotators._checks import check_positive_seconds, check_seconds
from energizer.errors import InvalidArgumentError

__all__ = ["AnnotationWarning", "Annotations", "Annotator"]

log = logging.getLogger(__name__)


class AnnotationWarning(UserWarning):
    """A label that is not applied: an unknown class, an id never requested, a task not ours."""


@dataclass(frozen=True)
class Annotations:
    """The outcome of one :meth:`Annotator.collect` call.

    Attributes:
        labels: Class of each newly labelled dataset id.
        returned: Dataset ids that people skipped or cancelled, sorted. They
            go back to the pool, and a later :meth:`Annotator.request` may ask
            for them again.
    """

    labels: Mapping[int, int] = field(default_factory=dict)
    returned: tuple[int, ...] = ()

    @property
    def ids(self) -> np.ndarray:
        """Labelled dataset ids, sorted, int64 of shape ``(len(labels),)``."""
        return np.array(sorted(self.labels), dtype=np.int64)

    @property
    def classes(self) -> np.ndarray:
        """Classes of :attr:`ids`, in the same order, int64."""
        return np.array([self.labels[i] for i in sorted(self.labels)], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.labels) + len(self.returned)


class Annotator(ABC):
    """A source of labels for queried dataset ids: people, through a store, or an oracle.

    The contract that every annotator keeps:

    - :meth:`request` sends the ids that are neither pending nor labelled,
      and ignores the others, so calling it twice with the same ids sends
      them once. A pending id is one requested whose label has not come back.
    - :meth:`collect` returns, for pending ids, the labels received so far
      and the ids that people skipped. It returns each label once per
      annotator object, and a label is final once returned: later edits in
      the store are ignored. It may return only some of the pending ids, and
      it returns nothing for ids that were never requested.
    - :meth:`mark_labelled` records the ids whose labels the caller already
      has. :meth:`request` ignores them and :meth:`collect`
      never returns them.
    - :meth:`cancel` stops waiting for pending ids; a later :meth:`request`
      sends them again.

    An annotator with a store (a file, a Label Studio project) adopts the
    requests that it finds there as pending: the file annotator when it is
    built, the Label Studio one when it first connects. So a new process on
    the same store resumes the old one's requests. A crash-safe caller:

    1. saves the labels of every :class:`Annotations` before it uses them and
       before the next :meth:`collect`;
    2. after a restart, builds the annotator on the same store, calls
       ``mark_labelled(saved_labelled_ids)``, then ``request(queried_ids)``
       again, then :meth:`collect`.

    Labels that people gave while the caller was down come back from that
    :meth:`collect`, and an id whose label was saved never comes back, so
    each label is applied exactly once. Annotators are not thread-safe.

    Subclasses implement :meth:`_send` and :meth:`_poll`, and call
    :meth:`_adopt` for the requests they find in their store, at the latest
    in :meth:`_prepare`.

    Args:
        poll_interval: Seconds between the first looks at the store while
            :meth:`collect` waits. The interval doubles after each look that
            finds nothing new, and returns to this value when one does.
        max_poll_interval: Maximum seconds between two looks.
    """

    def __init__(self, *, poll_interval: float = 1.0, max_poll_interval: float = 30.0) -> None:
        self.poll_interval = check_positive_seconds("poll_interval", poll_interval)
        self.max_poll_interval = check_positive_seconds("max_poll_interval", max_poll_interval)
        if self.max_poll_interval < self.poll_interval:
            raise InvalidArgumentError(
                "max_poll_interval",
                f"at least poll_interval ({self.poll_interval})",
                max_poll_interval,
                "Pass a max_poll_interval no smaller than poll_interval.",
            )
        self._pending: set[int] = set()
        self._labelled: set[int] = set()

    @property
    def num_classes(self) -> int | None:
        """Number of classes that the returned labels index, or ``None`` while it is unknown.

        The loop compares it with the model's number of outputs before any
        training. Subclasses with class names or a class count override it.
        """
        return None

    @property
    def pending_ids(self) -> np.ndarray:
        """Requested ids whose outcome has not come back, sorted, int64."""
        return np.array(sorted(self._pending), dtype=np.int64)

    @property
    def labelled_ids(self) -> np.ndarray:
        """Ids returned by :meth:`collect` or named by :meth:`mark_labelled`, sorted, int64."""
        return np.array(sorted(self._labelled), dtype=np.int64)

    def request(
        self,
        ids: Iterable[int] | np.ndarray,
        *,
        predictions: Iterable[int] | np.ndarray | None = None,
        scores: Iterable[float] | np.ndarray | None = None,
    ) -> np.ndarray:
        """Send the queried ids to the annotator, with the model's prediction and score per id.

        Args:
            ids: Dataset ids, shape ``(k,)``, distinct and non-negative.
            predictions: The model's class for each id, shape ``(k,)``, shown to
                people as a suggestion. ``None`` shows none.
            scores: The strategy's score for each id, shape ``(k,)``.

        Returns:
            The ids sent now, int64: ``ids`` without the pending and labelled ones.

        Raises:
            InvalidArgumentError: ``ids`` are repeated, negative or not
                integers, or ``predictions`` or ``scores`` have another length.
        """
        ids = _check_ids(ids)
        predictions = _check_predictions(predictions, ids.size)
        scores = _check_scores(scores, ids.size)
        self._prepare()
        keep = np.array(
            [i not in self._pending and i not in self._labelled for i in ids.tolist()], dtype=bool
        )
        new_ids = ids[keep]
        if new_ids.size:
            self._send(
                new_ids,
                None if predictions is None else predictions[keep],
                None if scores is None else scores[keep],
            )
            self._pending.update(new_ids.tolist())
        log.info(
            "Requested labels for %d items; %d were already pending or labelled.",
            new_ids.size,
            ids.size - new_ids.size,
        )
        return new_ids

    def connect(self) -> None:
        """Read the store and adopt the requests it lists; later calls do nothing.

        :meth:`request` connects on first use. Call it first to see the
        requests that earlier runs left in the store, in :attr:`pending_ids`.
        """
        self._prepare()

    def mark_labelled(self, ids: Iterable[int] | np.ndarray) -> None:
        """Record ids whose labels the caller already has, for example from a saved run.

        :meth:`request` ignores them from now on and :meth:`collect` never returns them.
        """
        done = _check_ids(ids, allow_repeats=True).tolist()
        self._labelled.update(done)
        self._pending.difference_update(done)

    def cancel(self, ids: Iterable[int] | np.ndarray) -> np.ndarray:
        """Stop waiting for pending ids, so that a later :meth:`request` sends them again.

        The store keeps its row or task for each id, and a request of the same
        id reuses it. Use it when a row or a task was deleted, or to give up
        on items that people did not label in time.

        Returns:
            The ids that were pending, sorted, int64.
        """
        ids = _check_ids(ids, allow_repeats=True)
        cancelled = sorted(set(ids.tolist()) & self._pending)
        self._pending.difference_update(cancelled)
        return np.array(cancelled, dtype=np.int64)

    def collect(self, timeout: float | None = None) -> Annotations:
        """Wait up to ``timeout`` seconds for the outcomes of pending ids, and return them.

        It returns as soon as every pending id has a label or was skipped, or
        when ``timeout`` seconds have passed, with whatever arrived by then.

        Args:
            timeout: Seconds to wait. ``0`` reads the store once and returns. ``None``
                waits until every pending id has an outcome, however long.

        Raises:
            InvalidArgumentError: ``timeout`` is negative or not a number.
        """
        if timeout is not None:
            timeout = check_seconds("timeout", timeout)
        deadline = None if timeout is None else time.monotonic() + timeout
        labels: dict[int, int] = {}
        returned: set[int] = set()
        interval = self.poll_interval
        while True:
            found = self._poll(deadline)
            num_new = self._take(found, labels, returned)
            if not self._pending:
                break
            wait = interval
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
                if wait <= 0:
                    break
            time.sleep(wait)
            interval = self.poll_interval if num_new else min(2 * interval, self.max_poll_interval)
        if labels or returned:
            log.info(
                "Collected %d labels and %d skipped items; %d items still pending.",
                len(labels),
                len(returned),
                len(self._pending),
            )
        return Annotations(labels=labels, returned=tuple(sorted(returned)))

    def _take(self, found: Annotations, labels: dict[int, int], returned: set[int]) -> int:
        """Move the outcomes of pending ids from ``found`` into ``labels`` and ``returned``."""
        num_new = 0
        for dataset_id, label in found.labels.items():
            if dataset_id in self._pending:
                labels[dataset_id] = int(label)
                self._pending.discard(dataset_id)
                self._labelled.add(dataset_id)
                num_new += 1
        for dataset_id in found.returned:
            if dataset_id in self._pending:
                returned.add(dataset_id)
                self._pending.discard(dataset_id)
                num_new += 1
        return num_new

    def _adopt(self, ids: Iterable[int]) -> None:
        """Count as pending the ids of requests found in the store, except labelled ones."""
        self._pending.update(int(i) for i in ids if int(i) not in self._labelled)

    def _prepare(self) -> None:
        """Adopt the store's requests before :meth:`request` filters ids; nothing by default."""

    @abstractmethod
    def _send(
        self, ids: np.ndarray, predictions: np.ndarray | None, scores: np.ndarray | None
    ) -> None:
        """Hand new ids to the store, with their predictions and scores (``None`` when absent)."""

    @abstractmethod
    def _poll(self, deadline: float | None) -> Annotations:
        """Read the store once and return the outcomes it contains.

        ``deadline`` is a ``time.monotonic()`` value, or ``None`` for no
        limit, past which a store that does not respond gets no more retries.
        The caller keeps only the outcomes of pending ids.
        """


def _check_ids(ids: Any, *, allow_repeats: bool = False) -> np.ndarray:
    array = np.asarray(ids)
    if array.size == 0:
        return np.empty(0, dtype=np.int64)
    if array.ndim != 1 or not np.issubdtype(array.dtype, np.integer):
        raise InvalidArgumentError(
            "ids",
            "a 1-D sequence of integer dataset ids",
            f"an array of shape {array.shape} and dtype {array.dtype}",
            "Pass the dataset ids that the strategy queried.",
        )
    array = array.astype(np.int64)
    if (array < 0).any():
        raise InvalidArgumentError(
            "ids",
            "non-negative dataset ids",
            array[array < 0][:10].tolist(),
            "Pass indices into the original dataset.",
        )
    if not allow_repeats and np.unique(array).size != array.size:
        values, counts = np.unique(array, return_counts=True)
        raise InvalidArgumentError(
            "ids",
            "distinct dataset ids",
            f"repeated ids {values[counts > 1][:10].tolist()}",
            "Request each id once.",
        )
    return array


def _check_predictions(predictions: Any, size: int) -> np.ndarray | None:
    if predictions is None:
        return None
    array = np.asarray(predictions)
    if array.shape != (size,) or (size and not np.issubdtype(array.dtype, np.integer)):
        raise InvalidArgumentError(
            "predictions",
            f"one integer class per id, shape ({size},)",
            f"an array of shape {array.shape} and dtype {array.dtype}",
            "Pass the model's predicted class of each requested id, or None.",
        )
    array = array.astype(np.int64)
    if (array < 0).any():
        raise InvalidArgumentError(
            "predictions",
            "non-negative class indices",
            array[array < 0][:10].tolist(),
            "Pass the index of the predicted class, such as the argmax of the logits.",
        )
    return array


def _check_scores(scores: Any, size: int) -> np.ndarray | None:
    if scores is None:
        return None
    array = np.asarray(scores)
    if array.shape != (size,) or (size and not np.issubdtype(array.dtype, np.number)):
        raise InvalidArgumentError(
            "scores",
            f"one number per id, shape ({size},)",
            f"an array of shape {array.shape} and dtype {array.dtype}",
            "Pass the strategy's score of each requested id, or None.",
        )
    return array.astype(np.float64)
