"""Tests of the input checks that ``Selection.select`` runs for every selection step."""

from __future__ import annotations

import numpy as np
import pytest

from energizer.errors import InvalidArgumentError
from energizer.selection import (
    PowerSampling,
    ScoreOrder,
    SoftmaxSampling,
    SoftRankSampling,
    TopK,
)

SELECTIONS = [
    TopK,
    lambda: SoftmaxSampling(seed=0),
    lambda: PowerSampling(seed=0),
    lambda: SoftRankSampling(seed=0),
]
SELECTION_NAMES = ["top-k", "softmax", "power", "soft-rank"]

IDS = np.array([4, 7, 9])
SCORES = np.array([0.2, 0.5, 0.1])


@pytest.mark.parametrize(
    ("ids", "scores", "k", "match"),
    [
        (IDS, SCORES, 0, r"Invalid `k`: expected an int between 1 and the pool size 3, received 0"),
        (IDS, SCORES, 4, r"Invalid `k`.*pool size 3, received 4"),
        (IDS, SCORES, -1, r"Invalid `k`.*received -1"),
        (IDS, SCORES, True, r"Invalid `k`.*received True"),
        (IDS, SCORES, 2.0, r"Invalid `k`.*received 2\.0"),
        (IDS, SCORES, "2", r"Invalid `k`.*received 2"),
        (IDS, SCORES[:2], 1, r"Invalid `scores`.*shape \(3,\).*received an array of shape \(2,\)"),
        (IDS, SCORES[:, None], 1, r"Invalid `scores`.*received an array of shape \(3, 1\)"),
        (IDS, np.array(["a", "b", "c"]), 1, r"Invalid `scores`: expected a 1-D real-valued array"),
        (IDS, np.array([0.2, np.nan, 0.1]), 1, r"Invalid `scores`: expected finite.*first ids: \[7\]"),
        (IDS, np.array([np.inf, 0.5, -np.inf]), 1, r"Invalid `scores`.*2 ids \(first ids: \[4, 9\]\)"),
        (IDS[:, None], SCORES, 1, r"Invalid `ids`: expected a 1-D integer array"),
        (IDS.astype(np.float64), SCORES, 1, r"Invalid `ids`.*dtype float64"),
        (np.array([], dtype=np.int64), np.array([]), 1, r"Invalid `ids`: expected at least one"),
        (np.array([4, 7, 4]), SCORES, 1, r"Invalid `ids`: expected distinct .* repeated ids \[4\]"),
    ],
    ids=[
        "k-zero",
        "k-above-pool",
        "k-negative",
        "k-bool",
        "k-float",
        "k-string",
        "scores-too-short",
        "scores-2d",
        "scores-strings",
        "scores-nan",
        "scores-infinite",
        "ids-2d",
        "ids-float",
        "ids-empty",
        "ids-repeated",
    ],
)
@pytest.mark.parametrize("make_selection", SELECTIONS, ids=SELECTION_NAMES)
def test_select_errors(make_selection, ids, scores, k, match):
    with pytest.raises(InvalidArgumentError, match=match):
        make_selection().select(ids, scores, k)


@pytest.mark.parametrize("make_selection", SELECTIONS, ids=SELECTION_NAMES)
def test_order_must_be_enum(make_selection):
    with pytest.raises(InvalidArgumentError, match=r"Invalid `order`: expected a ScoreOrder"):
        make_selection().select(IDS, SCORES, 1, "higher_first")


@pytest.mark.parametrize("make_selection", SELECTIONS, ids=SELECTION_NAMES)
@pytest.mark.parametrize("k", [np.int64(2), np.uint8(2)], ids=["int64", "uint8"])
def test_numpy_integer_k(make_selection, k):
    result = make_selection().select(IDS, SCORES, k)

    assert result.shape == (2,)


@pytest.mark.parametrize("make_selection", SELECTIONS, ids=SELECTION_NAMES)
def test_single_item_pool(make_selection):
    result = make_selection().select(np.array([12]), np.array([0.3]), 1)

    assert result.tolist() == [12]


@pytest.mark.parametrize("make_selection", SELECTIONS, ids=SELECTION_NAMES)
def test_accepts_lists(make_selection):
    result = make_selection().select([9, 4, 7], [0.1, 0.2, 0.5], 3, ScoreOrder.HIGHER_FIRST)

    assert sorted(result.tolist()) == [4, 7, 9]
