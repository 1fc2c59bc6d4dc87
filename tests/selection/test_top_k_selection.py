"""Tests of ``TopK``, the deterministic selection step over ``top_k_ids``."""

from __future__ import annotations

import json

import numpy as np
import pytest

from energizer.selection import ScoreOrder, Selection, TopK, top_k_ids

HIGHER = ScoreOrder.HIGHER_FIRST
LOWER = ScoreOrder.LOWER_FIRST


@pytest.mark.parametrize(
    ("ids", "scores", "k", "order", "expected"),
    [
        ([5, 3, 9, 1], [1.0, 2.0, 2.0, 2.0], 2, HIGHER, [1, 3]),
        ([5, 3, 9, 1], [1.0, 2.0, 2.0, 2.0], 4, HIGHER, [1, 3, 9, 5]),
        ([0, 1, 2, 3], [0.3, 0.1, 0.2, 0.1], 3, LOWER, [1, 3, 2]),
        ([0, 1, 2, 3], [0.3, 0.1, 0.2, 0.1], 3, HIGHER, [0, 2, 1]),
        ([7, 2, 5], [1.0, 1.0, 1.0], 3, LOWER, [2, 5, 7]),
        ([4, 2], [0.0, -0.0], 1, HIGHER, [2]),
        ([10, 20, 30], [-5.0, -1.0, -3.0], 1, HIGHER, [20]),
        ([10, 20, 30], [-5.0, -1.0, -3.0], 1, LOWER, [10]),
    ],
    ids=[
        "ties-top-2",
        "ties-then-lower-score",
        "lower-first-ties",
        "higher-first-ties",
        "all-equal-lower",
        "signed-zeros-tie",
        "negative-higher",
        "negative-lower",
    ],
)
def test_top_k_table(ids, scores, k, order, expected):
    result = TopK().select(np.array(ids), np.array(scores), k, order)

    assert result.tolist() == expected


def test_default_order_higher_first():
    result = TopK().select(np.array([0, 1, 2]), np.array([0.2, 0.9, 0.5]), 1)

    assert result.tolist() == [1]


@pytest.mark.parametrize("order", [HIGHER, LOWER], ids=lambda order: order.value)
@pytest.mark.parametrize("k", [1, 9, 30])
def test_matches_top_k_ids(order, k):
    rng = np.random.default_rng(1)
    ids = np.sort(rng.choice(500, size=30, replace=False))
    # Four distinct score values among 30 items, so most items tie.
    scores = rng.integers(0, 4, size=30) / 3

    result = TopK().select(ids, scores, k, order)

    assert result.tolist() == top_k_ids(ids, scores, k, order).tolist()


@pytest.mark.parametrize("order", [HIGHER, LOWER], ids=lambda order: order.value)
def test_input_order_irrelevant(order):
    rng = np.random.default_rng(2)
    ids = rng.choice(1000, size=25, replace=False)
    scores = rng.integers(0, 3, size=25).astype(np.float64)
    expected = TopK().select(ids, scores, 10, order).tolist()

    for _ in range(10):
        permutation = rng.permutation(ids.size)
        result = TopK().select(ids[permutation], scores[permutation], 10, order)
        assert result.tolist() == expected


def test_repeated_calls_agree():
    selection = TopK()
    ids = np.arange(6)
    scores = np.array([0.1, 0.6, 0.3, 0.6, 0.2, 0.5])

    first = selection.select(ids, scores, 3)
    second = selection.select(ids, scores, 3)

    assert first.tolist() == second.tolist()


def test_unsigned_integer_scores():
    scores = np.array([0, 1, 2], dtype=np.uint8)

    result = TopK().select(np.array([0, 1, 2]), scores, 3, LOWER)

    assert result.tolist() == [0, 1, 2]


def test_keeps_ids_dtype():
    result = TopK().select(np.array([2, 0, 1], dtype=np.uint32), np.array([0.1, 0.3, 0.2]), 2)

    assert result.dtype == np.uint32


def test_state_dict_empty():
    state = TopK().state_dict()

    assert state == {}
    assert json.loads(json.dumps(state)) == {}


def test_load_state_dict_round_trip():
    selection = TopK()

    selection.load_state_dict(TopK().state_dict())

    assert selection.select(np.array([1, 2]), np.array([0.4, 0.8]), 1).tolist() == [2]


def test_repr():
    assert repr(TopK()) == "TopK()"


def test_is_selection():
    assert isinstance(TopK(), Selection)


def test_selection_is_abstract():
    with pytest.raises(TypeError, match="abstract"):
        Selection()
