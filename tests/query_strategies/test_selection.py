"""Tests of ``top_k_ids``: ranking by score with ties broken by ascending dataset id."""

from __future__ import annotations

import numpy as np
import pytest

from energizer.selection import ScoreOrder, top_k_ids

HIGHER = ScoreOrder.HIGHER_FIRST
LOWER = ScoreOrder.LOWER_FIRST


def reference_top_k(ids: np.ndarray, scores: np.ndarray, k: int, order: ScoreOrder) -> list[int]:
    """Rank ids with Python's ``sorted`` on ``(signed score, id)`` pairs, without ``np.lexsort``."""
    sign = -1.0 if order is HIGHER else 1.0
    pairs = sorted(zip(scores.tolist(), ids.tolist()), key=lambda pair: (sign * pair[0], pair[1]))
    return [dataset_id for _, dataset_id in pairs[:k]]


@pytest.mark.parametrize(
    ("ids", "scores", "k", "order", "expected"),
    [
        ([5, 3, 9, 1], [1.0, 2.0, 2.0, 2.0], 2, HIGHER, [1, 3]),
        ([5, 3, 9, 1], [1.0, 2.0, 2.0, 2.0], 3, HIGHER, [1, 3, 9]),
        ([5, 3, 9, 1], [1.0, 2.0, 2.0, 2.0], 4, HIGHER, [1, 3, 9, 5]),
        ([0, 1, 2, 3], [0.3, 0.1, 0.2, 0.1], 3, LOWER, [1, 3, 2]),
        ([0, 1, 2, 3], [0.3, 0.1, 0.2, 0.1], 3, HIGHER, [0, 2, 1]),
        ([7, 2, 5], [1.0, 1.0, 1.0], 3, HIGHER, [2, 5, 7]),
        ([7, 2, 5], [1.0, 1.0, 1.0], 3, LOWER, [2, 5, 7]),
        ([4, 2], [0.0, -0.0], 1, HIGHER, [2]),
        ([4, 2], [-np.inf, np.inf], 1, HIGHER, [2]),
        ([4, 2], [-np.inf, np.inf], 1, LOWER, [4]),
    ],
    ids=[
        "ties-top-2",
        "ties-top-3",
        "ties-then-lower-score",
        "lower-first-ties",
        "higher-first-ties",
        "all-equal-higher",
        "all-equal-lower",
        "signed-zeros-tie",
        "infinities-higher",
        "infinities-lower",
    ],
)
def test_top_k_table(ids, scores, k, order, expected):
    result = top_k_ids(np.array(ids), np.array(scores), k, order)

    assert result.tolist() == expected


def test_default_order_higher_first():
    result = top_k_ids(np.array([0, 1, 2]), np.array([0.2, 0.9, 0.5]), 1)

    assert result.tolist() == [1]


@pytest.mark.parametrize("order", [HIGHER, LOWER], ids=lambda order: order.value)
def test_k_equals_pool_size(order):
    ids = np.array([10, 11, 12, 13, 14])
    scores = np.array([0.5, 0.1, 0.5, 0.9, 0.1])

    result = top_k_ids(ids, scores, len(ids), order)

    assert sorted(result.tolist()) == ids.tolist()
    assert result.tolist() == reference_top_k(ids, scores, len(ids), order)


def test_k_zero_returns_empty():
    result = top_k_ids(np.array([3, 1]), np.array([0.5, 0.7]), 0)

    assert result.shape == (0,)


@pytest.mark.parametrize("order", [HIGHER, LOWER], ids=lambda order: order.value)
@pytest.mark.parametrize("k", [1, 7, 40])
def test_input_order_irrelevant(order, k):
    rng = np.random.default_rng(0)
    ids = rng.choice(1000, size=40, replace=False)
    # Five distinct score values among 40 items, so most items tie.
    scores = rng.integers(0, 5, size=40) / 4
    expected = reference_top_k(ids, scores, k, order)

    for _ in range(20):
        permutation = rng.permutation(ids.size)
        result = top_k_ids(ids[permutation], scores[permutation], k, order)
        assert result.tolist() == expected


def test_inputs_not_modified():
    ids = np.array([2, 0, 1])
    scores = np.array([0.1, 0.3, 0.2])

    top_k_ids(ids, scores, 2)

    assert ids.tolist() == [2, 0, 1]
    assert scores.tolist() == [0.1, 0.3, 0.2]


def test_keeps_ids_dtype():
    result = top_k_ids(np.array([2, 0, 1], dtype=np.int32), np.array([0.1, 0.3, 0.2]), 2)

    assert result.dtype == np.int32


def test_unsigned_integer_scores():
    scores = np.array([0, 1, 2], dtype=np.uint8)

    result = top_k_ids(np.array([0, 1, 2]), scores, 1)

    assert result.tolist() == [2]
