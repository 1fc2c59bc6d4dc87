"""Cluster-margin: uncertain candidates, round-robin over their clusters."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
from diversity_helpers import make_blobs

from energizer.diversity.cluster_margin import cluster_margin
from energizer.errors import InvalidArgumentError


def test_one_pick_per_blob():
    points, blob = make_blobs(num_blobs=4, per_blob=25)
    scores = torch.rand(100, generator=torch.Generator().manual_seed(0))

    chosen = cluster_margin(points, scores, 4, num_candidates=100, num_clusters=4, seed=0)

    assert sorted(blob[chosen.numpy()].tolist()) == [0, 1, 2, 3]


def test_only_candidates_chosen():
    points, blob = make_blobs(num_blobs=4, per_blob=25)
    # Blob 3 holds the 25 most uncertain points, blob 1 the next 25.
    scores = torch.from_numpy(np.select([blob == 3, blob == 1], [0.9, 0.5], 0.1)).float()
    scores += torch.linspace(0, 0.01, 100)

    chosen = cluster_margin(points, scores, 10, num_candidates=50, num_clusters=4, seed=0)

    assert set(blob[chosen.numpy()].tolist()) == {1, 3}


def test_smallest_group_first_and_round_robin():
    points, blob = make_blobs(num_blobs=3, per_blob=[30, 5, 15])
    scores = torch.ones(50)

    chosen = cluster_margin(points, scores, 6, num_candidates=50, num_clusters=3, seed=0)

    assert blob[chosen.numpy()].tolist() == [1, 2, 0, 1, 2, 0]


def test_small_group_exhausted():
    points, blob = make_blobs(num_blobs=2, per_blob=[2, 20])

    chosen = cluster_margin(points, torch.ones(22), 6, num_candidates=22, num_clusters=2, seed=0)

    assert blob[chosen.numpy()].tolist() == [0, 1, 0, 1, 1, 1]


def test_duplicates_distinct_positions():
    points = torch.tensor([[0.0, 0.0], [5.0, 0.0], [0.0, 5.0]]).repeat(10, 1)

    chosen = cluster_margin(points, torch.ones(30), 12, num_candidates=30, num_clusters=3, seed=0)

    assert np.unique(chosen.numpy()).size == 12


def test_same_seed_same_positions():
    points = torch.randn(200, 5, generator=torch.Generator().manual_seed(0))
    scores = torch.rand(200, generator=torch.Generator().manual_seed(1))

    first = cluster_margin(points, scores, 20, num_candidates=100, num_clusters=10, seed=2)
    second = cluster_margin(points, scores, 20, num_candidates=100, num_clusters=10, seed=2)

    assert first.tolist() == second.tolist()


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"num_candidates": 3}, "Invalid `k`: expected an integer between 1 and the number of points (3), received 4."),
        ({"num_clusters": 0}, "Invalid `num_clusters`: expected an integer between 1 and the number of points (10)"),
        ({"scores": torch.ones(9)}, "Invalid `scores`: expected a floating-point tensor of shape (10,), one per point"),
        ({"scores": torch.full((10,), float("nan"))}, "Invalid `scores`: expected finite values, received 10 NaN"),
    ],
)
def test_invalid_arguments_raise(arguments, message):
    arguments = {"scores": torch.ones(10), "num_candidates": 10, "num_clusters": 2, **arguments}

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        cluster_margin(torch.zeros(10, 2), k=4, **arguments)
