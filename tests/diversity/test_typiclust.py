"""Typicality and TypiClust: typical points, one per uncovered cluster."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from diversity_helpers import make_blobs

from energizer.diversity import typicality
from energizer.diversity.typiclust import typiclust
from energizer.errors import InvalidArgumentError


def reference_typicality(points: torch.Tensor, num_neighbors: int) -> torch.Tensor:
    distances = torch.cdist(points.double(), points.double())
    distances.fill_diagonal_(float("inf"))
    nearest = distances.topk(num_neighbors, dim=1, largest=False).values
    return 1.0 / nearest.mean(dim=1)


@pytest.mark.parametrize("num_neighbors", [1, 5, 20])
def test_typicality_matches_reference(num_neighbors):
    points = torch.randn(80, 4, generator=torch.Generator().manual_seed(0), dtype=torch.float64)

    values = typicality(points, num_neighbors)

    torch.testing.assert_close(values, reference_typicality(points, num_neighbors))


def test_typicality_small_blocks_match():
    points = torch.randn(700, 3, generator=torch.Generator().manual_seed(1), dtype=torch.float64)

    blocked = typicality(points, 10, max_block_bytes=2**20)

    torch.testing.assert_close(blocked, reference_typicality(points, 10))


def test_typicality_fewer_points_than_neighbors():
    points = torch.tensor([[0.0], [1.0], [3.0]], dtype=torch.float64)

    values = typicality(points, 20)

    torch.testing.assert_close(values, torch.tensor([1 / 2.0, 1 / 1.5, 1 / 2.5], dtype=torch.float64))


def test_typicality_single_point_is_zero():
    assert typicality(torch.ones(1, 3)).tolist() == [0.0]


def test_typicality_center_is_most_typical():
    # Points on a line, denser towards 0: the middle one has the nearest neighbours.
    steps = torch.linspace(-1, 1, 41, dtype=torch.float64)
    points = (steps * steps.abs())[:, None]

    values = typicality(points, 10)

    assert int(values.argmax()) == 20


@pytest.mark.parametrize("seed", range(3))
def test_one_pick_per_blob(seed):
    points, blob = make_blobs(num_blobs=5, per_blob=[30, 12, 25, 8, 40], seed=seed)

    chosen = typiclust(points, 5, seed=seed)

    assert sorted(blob[chosen.numpy()].tolist()) == [0, 1, 2, 3, 4]


def test_largest_blob_first():
    points, blob = make_blobs(num_blobs=3, per_blob=[10, 30, 20])

    chosen = typiclust(points, 3, seed=0)

    assert blob[chosen.numpy()].tolist() == [1, 2, 0]


def test_picks_most_typical_of_blob():
    points, blob = make_blobs(num_blobs=2, per_blob=30)
    points = points.double()
    in_first = np.flatnonzero(blob == 0)
    expected = in_first[int(reference_typicality(points[in_first], 20).argmax())]

    chosen = typiclust(points, 2, seed=0)

    assert int(chosen[0]) == expected or int(chosen[1]) == expected


def test_labelled_blobs_skipped():
    points, blob = make_blobs(num_blobs=4, per_blob=20)
    labelled = torch.stack([points[blob == 0][0], points[blob == 2][0]])

    chosen = typiclust(points, 2, labelled=labelled, seed=0)

    assert sorted(blob[chosen.numpy()].tolist()) == [1, 3]


def test_duplicates_distinct_positions():
    points = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]]).repeat(10, 1)

    chosen = typiclust(points, 8, seed=0)

    assert np.unique(chosen.numpy()).size == 8


def test_same_seed_same_positions():
    points = torch.randn(300, 6, generator=torch.Generator().manual_seed(0))

    first = typiclust(points, 15, labelled=points[:10] + 0.5, seed=4)
    second = typiclust(points, 15, labelled=points[:10] + 0.5, seed=4)

    assert first.tolist() == second.tolist()


def test_labelled_width_checked():
    message = "Invalid `labelled`: expected rows of the pool points' width 3, received rows of width 2."

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        typiclust(torch.zeros(5, 3), 2, labelled=torch.zeros(2, 2))
