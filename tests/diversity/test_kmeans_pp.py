"""k-means++ seeding: blobs, duplicates, seeds, and the factored gradient-embedding points."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from diversity_helpers import make_blobs

from energizer.diversity import OuterProductPoints, kmeans_plus_plus
from energizer.errors import InvalidArgumentError


@pytest.mark.parametrize("seed", range(5))
def test_one_pick_per_blob(seed):
    points, blob = make_blobs(num_blobs=6, per_blob=25, seed=seed)

    chosen = kmeans_plus_plus(points, 6, seed=seed)

    assert sorted(blob[chosen.numpy()].tolist()) == list(range(6))


@pytest.mark.parametrize("seed", range(5))
def test_duplicates_distinct_positions(seed):
    # Three distinct points, ten copies each: after three picks every
    # remaining point is at distance zero.
    points = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]]).repeat(10, 1)

    chosen = kmeans_plus_plus(points, 12, seed=seed)

    assert np.unique(chosen.numpy()).size == 12
    assert {int(position) % 3 for position in chosen[:3]} == {0, 1, 2}


def test_all_duplicates_distinct_positions():
    points = torch.ones(20, 4)

    chosen = kmeans_plus_plus(points, 20, seed=0)

    assert sorted(chosen.tolist()) == list(range(20))


def test_same_seed_same_positions():
    points = torch.randn(500, 8, generator=torch.Generator().manual_seed(0))

    first = kmeans_plus_plus(points, 30, seed=3)
    second = kmeans_plus_plus(points, 30, seed=3)

    assert first.tolist() == second.tolist()


def test_other_seed_other_positions():
    points = torch.randn(500, 8, generator=torch.Generator().manual_seed(0))

    first = kmeans_plus_plus(points, 30, seed=3)
    second = kmeans_plus_plus(points, 30, seed=4)

    assert first.tolist() != second.tolist()


@pytest.mark.parametrize("seed", range(3))
def test_outer_product_points_match_dense(seed):
    generator = torch.Generator().manual_seed(seed)
    left = torch.randn(300, 5, generator=generator, dtype=torch.float64)
    right = torch.randn(300, 9, generator=generator, dtype=torch.float64)
    points = OuterProductPoints(left, right)

    factored = kmeans_plus_plus(points, 40, seed=seed)
    dense = kmeans_plus_plus(points.dense(), 40, seed=seed)

    assert factored.tolist() == dense.tolist()


def test_draws_follow_squared_distances():
    # One center at 0 is chosen first when the seed picks position 0; the
    # second draw then takes position 1 (distance^2 1) or 2 (distance^2 9)
    # with probabilities 0.1 and 0.9.
    points = torch.tensor([[0.0], [1.0], [3.0]])
    second_picks = []
    for seed in range(4000):
        chosen = kmeans_plus_plus(points, 2, seed=seed)
        if int(chosen[0]) == 0:
            second_picks.append(int(chosen[1]))

    share_of_far = np.mean(np.array(second_picks) == 2)
    assert len(second_picks) > 1000
    assert 0.87 < share_of_far < 0.93


def test_outer_product_factors_checked():
    message = "Invalid `right`: expected one row per row of left (3 rows), received 2 rows."

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        OuterProductPoints(torch.zeros(3, 2), torch.zeros(2, 4))


def test_invalid_k_raises():
    message = "Invalid `k`: expected an integer between 1 and the number of points (4), received 5."

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        kmeans_plus_plus(torch.zeros(4, 2), 5)
