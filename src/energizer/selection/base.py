"""The selection step interface and the input checks that every selection step shares."""

from __future__ import annotations

from abc import ABC, abstractmethod
from enum import Enum
from numbers import Integral
from typing import Any

import numpy as np

from energizer.errors import InvalidArgumentError

__all__ = ["ScoreOrder", "Selection"]


class ScoreOrder(Enum):
    """End of the score range that a strategy queries first."""

    HIGHER_FIRST = "higher_first"
    """Higher scores are more informative (every uncertainty score in energizer)."""

    LOWER_FIRST = "lower_first"
    """Lower scores are more informative."""


class Selection(ABC):
    """Base class of the selection steps, which turn per-item scores into the ids to query.

    :meth:`select` validates its inputs, sorts them by ascending dataset id and
    passes them to :meth:`_select`, which subclasses implement. Because of the
    sorting, the result depends on the set of ``(id, score)`` pairs and never on
    the order in which the pool was scored. Random selection steps keep this
    property because they draw their noise by position in the sorted arrays.

    Stateful subclasses override :meth:`state_dict` and :meth:`load_state_dict`
    so that a resumed run continues where the interrupted one stopped.
    """

    def select(
        self,
        ids: np.ndarray,
        scores: np.ndarray,
        k: int,
        order: ScoreOrder = ScoreOrder.HIGHER_FIRST,
    ) -> np.ndarray:
        """Choose ``k`` distinct dataset ids to query, most preferred first.

        Args:
            ids: Distinct dataset ids of the pool items, integer array of shape
                ``(N,)``. The loop passes them sorted ascending, but any order
                gives the same result.
            scores: One finite score per id, aligned with ``ids``, shape ``(N,)``.
                Converted to float64.
            k: Number of ids to choose, an int with ``1 <= k <= N``.
            order: Whether higher or lower scores are preferred.

        Returns:
            ``k`` distinct entries of ``ids``, with the dtype of ``ids``.

        Raises:
            InvalidArgumentError: ``ids`` is not a 1-D integer array of distinct
                values, ``scores`` has a different length or contains NaN or
                infinite values, ``k`` is out of ``[1, N]``, or ``order`` is not
                a :class:`ScoreOrder`. Subclasses raise it for inputs they do
                not support.
        """
        ids, scores = _check_ids_and_scores(ids, scores)
        _check_k(k, ids.size)
        if not isinstance(order, ScoreOrder):
            raise InvalidArgumentError(
                "order",
                "a ScoreOrder",
                order,
                "Pass ScoreOrder.HIGHER_FIRST or ScoreOrder.LOWER_FIRST.",
            )
        ids, scores = _sort_by_id(ids, scores)
        return self._select(ids, scores, int(k), order)

    @abstractmethod
    def _select(self, ids: np.ndarray, scores: np.ndarray, k: int, order: ScoreOrder) -> np.ndarray:
        """Choose ``k`` ids from validated inputs, most preferred first.

        ``ids`` are distinct and sorted ascending, ``scores`` are finite float64
        values aligned with them, and ``1 <= k <= len(ids)``.
        """

    def state_dict(self) -> dict[str, Any]:
        """Return the state needed to resume selection, as JSON-serialisable values.

        Selection steps without random state return an empty dict.
        """
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state returned by :meth:`state_dict`.

        Raises:
            InvalidArgumentError: ``state_dict`` is not a dict.
        """
        if not isinstance(state_dict, dict):
            raise InvalidArgumentError(
                "state_dict",
                "a dict returned by state_dict()",
                f"a {type(state_dict).__name__}",
                f"Pass the value saved from {type(self).__name__}.state_dict().",
            )

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _check_ids_and_scores(ids: Any, scores: Any) -> tuple[np.ndarray, np.ndarray]:
    """Validate ``ids`` and ``scores`` and return them as arrays, the scores as float64."""
    ids = np.asarray(ids)
    # dtype kinds: "i" signed and "u" unsigned integers, "f" floating point.
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise InvalidArgumentError(
            "ids",
            "a 1-D integer array of dataset ids",
            f"an array of shape {ids.shape} and dtype {ids.dtype}",
            "Pass the pool's dataset ids, such as datamodule.pool_ids.",
        )
    if ids.size == 0:
        raise InvalidArgumentError(
            "ids",
            "at least one pool id",
            "an empty array",
            "Stop querying once the pool is empty.",
        )

    scores = np.asarray(scores)
    if scores.shape != ids.shape or scores.dtype.kind not in "iuf":
        raise InvalidArgumentError(
            "scores",
            f"a 1-D real-valued array of shape {ids.shape}, one score per id",
            f"an array of shape {scores.shape} and dtype {scores.dtype}",
            "Pass the scores aligned with ids.",
        )
    # float64 so that negating unsigned integer scores cannot wrap around.
    scores = scores.astype(np.float64)
    finite = np.isfinite(scores)
    if not finite.all():
        bad_ids = ids[~finite]
        raise InvalidArgumentError(
            "scores",
            "finite values",
            f"NaN or infinite scores for {bad_ids.size} ids (first ids: {bad_ids[:5].tolist()})",
            "Check the acquisition function and the model outputs for those items.",
        )
    return ids, scores


def _check_k(k: Any, pool_size: int) -> None:
    is_int = isinstance(k, Integral) and not isinstance(k, (bool, np.bool_))
    if not is_int or not 1 <= k <= pool_size:
        raise InvalidArgumentError(
            "k",
            f"an int between 1 and the pool size {pool_size}",
            k,
            "Request at least one id and no more ids than the pool contains.",
        )


def _sort_by_id(ids: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort ``ids`` ascending with ``scores`` aligned, and raise if an id is repeated."""
    if ids.size > 1 and not np.all(ids[1:] > ids[:-1]):
        permutation = np.argsort(ids, kind="stable")
        ids = ids[permutation]
        scores = scores[permutation]
    repeated = ids[1:][ids[1:] == ids[:-1]]
    if repeated.size:
        raise InvalidArgumentError(
            "ids",
            "distinct dataset ids",
            f"repeated ids {np.unique(repeated)[:5].tolist()}",
            "Pass each pool item once.",
        )
    return ids, scores
