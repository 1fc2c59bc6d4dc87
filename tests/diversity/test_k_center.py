"""Greedy k-center against a brute-force reference, on blobs, duplicates and bad input."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from diversity_helpers import make_blobs

from energizer.diversity import OuterProductPoints, k_center_greedy
from energizer.errors import InvalidArgumentError


def brute_force_k_center(
    points: torch.Tensor, k: int, centers: torch.Tensor | None, first: int | None = None
) -> list[int]:
    """Farthest-first traversal with every distance recomputed in float64, ties to the lowest position."""
    values = points.double()
    chosen: list[int] = []
    if centers is not None and centers.shape[0] > 0:
        nearest = torch.cdist(values, centers.double()).min(dim=1).values
    else:
        chosen.append(first)
        nearest = (values - values[first]).pow(2).sum(dim=1).sqrt()
    while len(chosen) < k:
        candidates = nearest.clone()
        candidates[chosen] = -1.0
        # torch.argmax returns the first maximum, so ties go to the lowest position.
        position = int(torch.argmax(candidates))
        chosen.append(position)
        nearest = torch.minimum(nearest, (values - values[position]).pow(2).sum(dim=1).sqrt())
    return chosen


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize(("size", "width", "num_centers", "k"), [(300, 5, 20, 40), (120, 3, 1, 120), (500, 16, 50, 100)])
def test_matches_brute_force_with_centers(seed, dtype, size, width, num_centers, k):
    generator = torch.Generator().manual_seed(seed)
    points = torch.randn(size, width, generator=generator, dtype=torch.float64).to(dtype)
    centers = torch.randn(num_centers, width, generator=generator, dtype=torch.float64).to(dtype)

    chosen = k_center_greedy(points, k, centers=centers)

    assert chosen.tolist() == brute_force_k_center(points, k, centers)


@pytest.mark.parametrize("seed", range(4))
def test_matches_brute_force_without_centers(seed):
    points = torch.randn(400, 6, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    first = int(np.random.default_rng(seed).integers(400))

    chosen = k_center_greedy(points, 60, seed=seed)

    assert chosen.tolist() == brute_force_k_center(points, 60, None, first)


def test_small_blocks_match_brute_force():
    # A 1 MiB block holds 240 columns and 257 rows of float64 distances, so
    # the initial distances to 1,000 centers take many blocks each way.
    generator = torch.Generator().manual_seed(5)
    points = torch.randn(600, 8, generator=generator, dtype=torch.float64)
    centers = torch.randn(1_000, 8, generator=generator, dtype=torch.float64)

    chosen = k_center_greedy(points, 50, centers=centers, max_block_bytes=2**20)

    assert chosen.tolist() == brute_force_k_center(points, 50, centers)


def test_clustered_points_match_brute_force():
    # Picks that empty a whole cluster make the walk over the sorted bounds long.
    points, _ = make_blobs(num_blobs=6, per_blob=150, seed=2)
    points = points.double() + torch.linspace(0, 3, points.shape[0], dtype=torch.float64)[:, None]

    chosen = k_center_greedy(points, 200, centers=points[:3])

    assert chosen.tolist() == brute_force_k_center(points, 200, points[:3])


def test_outer_product_points_match_dense():
    generator = torch.Generator().manual_seed(1)
    left = torch.randn(200, 4, generator=generator, dtype=torch.float64)
    right = torch.randn(200, 7, generator=generator, dtype=torch.float64)
    points = OuterProductPoints(left, right)

    chosen = k_center_greedy(points, 30, centers=OuterProductPoints(left[:5], right[:5]))

    assert chosen.tolist() == brute_force_k_center(points.dense(), 30, points.dense()[:5])


def test_one_pick_per_blob():
    points, blob = make_blobs(num_blobs=5, per_blob=20)

    chosen = k_center_greedy(points, 5, seed=0)

    assert sorted(blob[chosen.numpy()].tolist()) == [0, 1, 2, 3, 4]


def test_labelled_blobs_skipped():
    points, blob = make_blobs(num_blobs=5, per_blob=20)
    labelled = torch.stack([points[blob == 1][0], points[blob == 3][0]])

    chosen = k_center_greedy(points, 3, centers=labelled)

    assert sorted(blob[chosen.numpy()].tolist()) == [0, 2, 4]


def test_duplicates_distinct_positions():
    distinct = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]])
    points = distinct.repeat(10, 1)

    chosen = k_center_greedy(points, 8, seed=0)

    assert np.unique(chosen.numpy()).size == 8
    assert {int(position) % 3 for position in chosen[:3]} == {0, 1, 2}


def test_duplicates_ties_go_to_lowest_positions():
    # After one copy of each point is chosen every distance is zero, so the
    # remaining picks are the lowest positions not chosen yet.
    points = torch.tensor([[0.0, 0.0], [5.0, 0.0]]).repeat(4, 1)

    chosen = k_center_greedy(points, 5, centers=torch.tensor([[0.0, 0.0]]))

    assert chosen.tolist() == [1, 0, 2, 3, 4]


def test_same_seed_same_positions():
    points = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))

    first = k_center_greedy(points, 20, seed=7)
    second = k_center_greedy(points, 20, seed=7)

    assert first.tolist() == second.tolist()


def test_seed_picks_first_point():
    points = torch.randn(300, 4, generator=torch.Generator().manual_seed(0))

    first_points = {int(k_center_greedy(points, 1, seed=seed)[0]) for seed in range(5)}

    assert len(first_points) > 1


def test_empty_centers_start_from_seed():
    points = torch.randn(100, 3, generator=torch.Generator().manual_seed(0))

    with_empty = k_center_greedy(points, 10, centers=torch.empty(0, 3), seed=3)
    without = k_center_greedy(points, 10, seed=3)

    assert with_empty.tolist() == without.tolist()


def test_float16_points_computed_in_float32():
    points = torch.randn(200, 4, generator=torch.Generator().manual_seed(0))

    half = k_center_greedy(points.half(), 10, centers=points[:3].half())
    single = k_center_greedy(points.half().float(), 10, centers=points[:3].half().float())

    assert half.tolist() == single.tolist()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"k": 0}, "Invalid `k`: expected an integer between 1 and the number of points (10), received 0."),
        ({"k": 11}, "Invalid `k`: expected an integer between 1 and the number of points (10), received 11."),
        ({"k": 2.0}, "Invalid `k`: expected an integer between 1 and the number of points (10), received 2.0."),
        ({"centers": torch.zeros(2, 4)}, "Invalid `centers`: expected rows of the points' width [3]"),
        ({"max_block_bytes": 1000}, "Invalid `max_block_bytes`: expected an integer of at least 1 MiB"),
    ],
)
def test_invalid_arguments_raise(arguments, message):
    arguments = {"k": 2, **arguments}

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        k_center_greedy(torch.zeros(10, 3), **arguments)


@pytest.mark.parametrize(
    ("points", "message"),
    [
        (torch.zeros(10, dtype=torch.float32), "expected a floating-point tensor of shape (num_points, num_features)"),
        (torch.zeros(4, 3, dtype=torch.int64), "received a torch.int64 tensor of shape (4, 3)"),
        (torch.tensor([[0.0, float("nan")], [1.0, 1.0]]), "NaN or infinite values in 1 of 2 rows"),
    ],
)
def test_invalid_points_raise(points, message):
    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        k_center_greedy(points, 1)
