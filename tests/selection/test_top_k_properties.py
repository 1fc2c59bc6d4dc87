"""Property-based tests of top-k selection, ``TopK`` and ``top_k_ids``, with hypothesis.

Pools are drawn with distinct ids of several integer dtypes, in any order, and with
scores that either tie often (a few values, signed zeros included) or span the whole
finite float64 range. The reference is Python's ``sorted`` on ``(key, id)`` tuples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from energizer.selection import ScoreOrder, TopK, top_k_ids

# derandomize draws the same examples on every run, and without a database no earlier
# failure is replayed, so a run on CI depends only on the code.
PROPERTY_SETTINGS = settings(deadline=None, derandomize=True, database=None, max_examples=60)

TIED_SCORES = st.sampled_from([-1.0, -0.0, 0.0, 0.25, 1.0])
ANY_SCORES = st.floats(allow_nan=False, allow_infinity=False)


def select_with_top_k(ids, scores, k, order):
    return TopK().select(ids, scores, k, order)


SELECTORS = [select_with_top_k, top_k_ids]


@dataclass
class Pool:
    ids: np.ndarray
    scores: np.ndarray
    k: int
    order: ScoreOrder

    def keys(self) -> np.ndarray:
        """Return sort keys, where a lower key is preferred under ``order``."""
        return -self.scores if self.order is ScoreOrder.HIGHER_FIRST else self.scores


@st.composite
def pools(draw) -> Pool:
    size = draw(st.integers(1, 30))
    id_dtype = draw(st.sampled_from([np.int64, np.int32, np.uint32]))
    ids = draw(hnp.arrays(id_dtype, size, elements=st.integers(0, 10_000), unique=True))
    elements = draw(st.sampled_from([TIED_SCORES, ANY_SCORES]))
    scores = draw(hnp.arrays(np.float64, size, elements=elements))
    k = draw(st.integers(1, size))
    order = draw(st.sampled_from(list(ScoreOrder)))
    return Pool(ids, scores, k, order)


def chosen_mask(pool: Pool, chosen: np.ndarray) -> np.ndarray:
    return np.isin(pool.ids, chosen)


@pytest.mark.parametrize("select", SELECTORS)
@PROPERTY_SETTINGS
@given(pool=pools())
def test_top_k_distinct_pool_ids(select, pool):
    chosen = select(pool.ids, pool.scores, pool.k, pool.order)

    assert chosen.shape == (pool.k,)
    assert chosen.dtype == pool.ids.dtype
    assert len(set(chosen.tolist())) == pool.k
    assert set(chosen.tolist()) <= set(pool.ids.tolist())


@pytest.mark.parametrize("select", SELECTORS)
@PROPERTY_SETTINGS
@given(pool=pools())
def test_top_k_scores_dominate_rest(select, pool):
    chosen = select(pool.ids, pool.scores, pool.k, pool.order)
    mask = chosen_mask(pool, chosen)
    keys = pool.keys()

    if mask.all():
        return
    assert keys[mask].max() <= keys[~mask].min()


@pytest.mark.parametrize("select", SELECTORS)
@PROPERTY_SETTINGS
@given(pool=pools())
def test_top_k_ties_lowest_id(select, pool):
    chosen = select(pool.ids, pool.scores, pool.k, pool.order)
    mask = chosen_mask(pool, chosen)

    # -0.0 == 0.0, so signed zeros tie as well.
    for score in np.unique(pool.scores[mask]):
        tied = pool.scores == score
        left_out = pool.ids[tied & ~mask]
        if left_out.size:
            assert pool.ids[tied & mask].max() < left_out.min(), f"score {score}"


@pytest.mark.parametrize("select", SELECTORS)
@PROPERTY_SETTINGS
@given(pool=pools())
def test_top_k_matches_sorted_reference(select, pool):
    pairs = sorted(zip(pool.keys().tolist(), pool.ids.tolist()))
    expected = [pool_id for _, pool_id in pairs[: pool.k]]

    chosen = select(pool.ids, pool.scores, pool.k, pool.order)

    # Best first, and among equal scores the lower id first.
    assert chosen.tolist() == expected


@pytest.mark.parametrize("select", SELECTORS)
@PROPERTY_SETTINGS
@given(pool=pools(), data=st.data())
def test_top_k_pair_permutation_invariant(select, pool, data):
    permutation = np.array(data.draw(st.permutations(range(pool.ids.size))))

    permuted = select(pool.ids[permutation], pool.scores[permutation], pool.k, pool.order)

    assert permuted.tolist() == select(pool.ids, pool.scores, pool.k, pool.order).tolist()
