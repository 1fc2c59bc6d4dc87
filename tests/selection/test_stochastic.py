"""Tests of the stochastic selection steps: softmax, power and soft-rank sampling.

The distribution tests compare frequencies over many seeded draws with
probabilities written out by hand, using a chi-square statistic against its
0.999 quantile. The seeds are fixed, so every run draws the same samples.
"""

from __future__ import annotations

import itertools
import json

import numpy as np
import torch
import pytest

from energizer.errors import InvalidArgumentError
from energizer.selection import (
    PowerSampling,
    ScoreOrder,
    Selection,
    SoftmaxSampling,
    SoftRankSampling,
)

HIGHER = ScoreOrder.HIGHER_FIRST
LOWER = ScoreOrder.LOWER_FIRST
KINDS = [SoftmaxSampling, PowerSampling, SoftRankSampling]

# 0.999 quantiles of the chi-square distribution, by degrees of freedom
# (scipy.stats.chi2.ppf(0.999, df)).
CHI_SQUARE_0999 = {2: 13.816, 3: 16.266, 5: 20.515, 11: 31.264}

IDS = np.array([3, 8, 11, 15])
SCORES = np.array([0.1, 0.5, 1.0, 2.0])


def chi_square(counts: np.ndarray, probabilities: np.ndarray) -> float:
    expected = counts.sum() * probabilities
    return float(np.sum((counts - expected) ** 2 / expected))


def normalise(weights) -> np.ndarray:
    weights = np.asarray(weights, dtype=np.float64)
    return weights / weights.sum()


# Each case: kind, temperature, order, scores aligned with IDS, unnormalised probabilities.
DISTRIBUTION_CASES = {
    "softmax": (SoftmaxSampling, 1.0, HIGHER, SCORES, np.exp(SCORES)),
    "softmax-cold": (SoftmaxSampling, 0.5, HIGHER, SCORES, np.exp(2 * SCORES)),
    "softmax-lower": (SoftmaxSampling, 2.0, LOWER, SCORES, np.exp(-SCORES / 2)),
    "power": (PowerSampling, 1.0, HIGHER, SCORES, SCORES),
    "power-cold": (PowerSampling, 0.5, HIGHER, SCORES, SCORES**2),
    "power-hot": (PowerSampling, 2.0, HIGHER, SCORES, np.sqrt(SCORES)),
    # Scores 0.3, 0.9, 0.1, 0.5 rank 3, 1, 4, 2 with higher first.
    "soft-rank": (SoftRankSampling, 1.0, HIGHER, np.array([0.3, 0.9, 0.1, 0.5]), [1 / 3, 1, 1 / 4, 1 / 2]),
    # Lower first, the tie 0.5 = 0.5 is broken by id: ranks 2, 1, 3, 4.
    "soft-rank-lower-tie": (
        SoftRankSampling,
        2.0,
        LOWER,
        np.array([0.5, 0.2, 0.5, 0.9]),
        [2**-0.5, 1, 3**-0.5, 4**-0.5],
    ),
}


@pytest.mark.parametrize(
    ("kind", "temperature", "order", "scores", "weights"),
    DISTRIBUTION_CASES.values(),
    ids=DISTRIBUTION_CASES.keys(),
)
def test_single_draw_frequencies(kind, temperature, order, scores, weights):
    selection = kind(temperature=temperature, seed=1)
    draws = 20_000
    counts = np.zeros(IDS.size)

    for _ in range(draws):
        (chosen,) = selection.select(IDS, scores, 1, order)
        counts[np.flatnonzero(IDS == chosen)] += 1

    assert chi_square(counts, normalise(weights)) < CHI_SQUARE_0999[3]


PAIR_CASES = {name: DISTRIBUTION_CASES[name] for name in ["softmax", "power-cold", "soft-rank"]}


@pytest.mark.parametrize(
    ("kind", "temperature", "order", "scores", "weights"),
    PAIR_CASES.values(),
    ids=PAIR_CASES.keys(),
)
def test_pair_frequencies(kind, temperature, order, scores, weights):
    selection = kind(temperature=temperature, seed=2)
    probabilities = normalise(weights)
    positions = range(IDS.size)
    ordered_pairs = list(itertools.permutations(positions, 2))
    unordered_pairs = list(itertools.combinations(positions, 2))
    # Successive sampling: a first with p_a, then b with p_b / (1 - p_a).
    ordered_probabilities = np.array(
        [probabilities[a] * probabilities[b] / (1 - probabilities[a]) for a, b in ordered_pairs]
    )
    unordered_probabilities = np.array(
        [
            probabilities[a] * probabilities[b] / (1 - probabilities[a])
            + probabilities[b] * probabilities[a] / (1 - probabilities[b])
            for a, b in unordered_pairs
        ]
    )
    ordered_counts = np.zeros(len(ordered_pairs))
    unordered_counts = np.zeros(len(unordered_pairs))

    for _ in range(20_000):
        first, second = selection.select(IDS, scores, 2, order)
        a = int(np.flatnonzero(IDS == first)[0])
        b = int(np.flatnonzero(IDS == second)[0])
        ordered_counts[ordered_pairs.index((a, b))] += 1
        unordered_counts[unordered_pairs.index((min(a, b), max(a, b)))] += 1

    assert chi_square(unordered_counts, unordered_probabilities) < CHI_SQUARE_0999[5]
    assert chi_square(ordered_counts, ordered_probabilities) < CHI_SQUARE_0999[11]


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("k", [1, 4, 10])
def test_returns_distinct_pool_ids(kind, k):
    ids = np.array([2, 5, 6, 9, 14, 20, 21, 30, 31, 40])
    scores = np.linspace(0.0, 1.0, ids.size)

    result = kind(seed=0).select(ids, scores, k)

    assert isinstance(result, np.ndarray)
    assert result.shape == (k,)
    assert np.unique(result).size == k
    assert set(result.tolist()) <= set(ids.tolist())


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_keeps_ids_dtype(kind):
    ids = np.array([4, 1, 7], dtype=np.int32)

    result = kind(seed=0).select(ids, np.array([0.2, 0.4, 0.6]), 2)

    assert result.dtype == np.int32


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_inputs_not_modified(kind):
    ids = np.array([9, 2, 5])
    scores = np.array([0.3, 0.1, 0.2])

    kind(seed=0).select(ids, scores, 2)

    assert ids.tolist() == [9, 2, 5]
    assert scores.tolist() == [0.3, 0.1, 0.2]


def draw_sequence(selection: Selection, calls: int = 3) -> list[list[int]]:
    ids = np.arange(100, 150)
    scores = np.linspace(0.1, 1.0, ids.size)
    return [selection.select(ids, scores, 5).tolist() for _ in range(calls)]


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_same_seed_same_sequence(kind):
    first = draw_sequence(kind(seed=42))
    second = draw_sequence(kind(seed=42))

    assert first == second


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_successive_calls_differ(kind):
    sequence = draw_sequence(kind(seed=42))

    assert sequence[0] != sequence[1]
    assert sequence[1] != sequence[2]


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_different_seed_differs(kind):
    first = draw_sequence(kind(seed=1))
    second = draw_sequence(kind(seed=2))

    assert first != second


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("through_json", [False, True], ids=["dict", "json"])
def test_state_dict_continues_stream(kind, through_json):
    original = kind(temperature=0.7, seed=3)
    draw_sequence(original, calls=2)
    state = original.state_dict()
    if through_json:
        state = json.loads(json.dumps(state))
    # A different seed shows that the loaded state, not the seed, drives the stream.
    resumed = kind(temperature=0.7, seed=99)

    resumed.load_state_dict(state)

    assert draw_sequence(resumed) == draw_sequence(original)


def test_state_dict_without_seed():
    original = SoftmaxSampling()
    resumed = SoftmaxSampling()

    resumed.load_state_dict(original.state_dict())

    assert draw_sequence(resumed) == draw_sequence(original)


# Scores are aligned with the ids 8, 10, 11, 12, 13.
TINY_TEMPERATURE_CASES = {
    "softmax": (SoftmaxSampling, HIGHER, [0.3, 0.7, 0.1, 0.5, 0.2], [10, 12, 8, 13, 11]),
    "softmax-lower": (SoftmaxSampling, LOWER, [0.3, 0.7, 0.1, 0.5, 0.2], [11, 13, 8, 12, 10]),
    "softmax-negative": (SoftmaxSampling, HIGHER, [-3.0, -1.0, -2.0, -5.0, -4.0], [10, 11, 8, 13, 12]),
    "power": (PowerSampling, HIGHER, [0.3, 0.7, 0.1, 0.5, 0.2], [10, 12, 8, 13, 11]),
    "power-zeros": (PowerSampling, HIGHER, [0.3, 0.0, 0.1, 0.5, 0.0], [12, 8, 11]),
    # Soft-rank ranks are distinct, so its limit breaks ties by id as top-k does.
    "soft-rank-ties": (SoftRankSampling, HIGHER, [0.5, 0.7, 0.5, 0.7, 0.2], [10, 12, 8, 11, 13]),
    "soft-rank-lower-ties": (SoftRankSampling, LOWER, [0.5, 0.7, 0.5, 0.7, 0.2], [13, 8, 11, 10, 12]),
}


@pytest.mark.filterwarnings("error")
# 1e-310 is subnormal: score gaps divided by it overflow to -inf, which
# exercises the fall-back to score order.
@pytest.mark.parametrize("temperature", [1e-6, 1e-310])
@pytest.mark.parametrize(
    ("kind", "order", "scores", "expected"),
    TINY_TEMPERATURE_CASES.values(),
    ids=TINY_TEMPERATURE_CASES.keys(),
)
def test_tiny_temperature_is_top_k(kind, order, scores, expected, temperature):
    ids = np.array([8, 10, 11, 12, 13])
    scores = np.array(scores)
    # Pass the pool unsorted, as the limit must not depend on the input order.
    permutation = [1, 2, 3, 0, 4]

    for seed in range(5):
        selection = kind(temperature=temperature, seed=seed)
        result = selection.select(ids[permutation], scores[permutation], len(expected), order)
        assert result.tolist() == expected, f"seed {seed}"


@pytest.mark.parametrize("temperature", [1e-6, 1e-310])
def test_tiny_temperature_ties_random(temperature):
    # Equal scores have equal probabilities, so the limit picks either one.
    ids = np.array([0, 1, 2])
    scores = np.array([0.9, 0.9, 0.1])

    firsts = {
        int(SoftmaxSampling(temperature=temperature, seed=seed).select(ids, scores, 1)[0])
        for seed in range(40)
    }

    assert firsts == {0, 1}


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
@pytest.mark.parametrize("k", [1, 3, 8])
def test_input_order_irrelevant(kind, k):
    rng = np.random.default_rng(0)
    ids = np.sort(rng.choice(1000, size=8, replace=False))
    scores = rng.uniform(0.0, 2.0, size=ids.size)
    expected = kind(seed=5).select(ids, scores, k).tolist()

    for _ in range(10):
        permutation = rng.permutation(ids.size)
        result = kind(seed=5).select(ids[permutation], scores[permutation], k)
        assert result.tolist() == expected


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("order", [HIGHER, LOWER], ids=lambda order: order.value)
def test_softmax_large_scores(order):
    ids = np.arange(6)
    scores = np.array([1e4, -1e4, 5e3, 1e4 - 1.0, 0.0, 1e308])
    best = 5 if order is HIGHER else 1

    result = SoftmaxSampling(temperature=1e-3, seed=0).select(ids, scores, 6, order)

    assert result[0] == best
    assert sorted(result.tolist()) == ids.tolist()


@pytest.mark.filterwarnings("error")
def test_power_never_prefers_zero():
    ids = np.arange(5)
    scores = np.array([0.0, 0.5, 0.0, 0.25, 0.0])
    selection = PowerSampling(temperature=3.0, seed=0)

    for _ in range(500):
        result = selection.select(ids, scores, 4)
        assert sorted(result[:2].tolist()) == [1, 3]
        assert set(result[2:].tolist()) <= {0, 2, 4}


def test_power_zeros_fill_uniformly():
    ids = np.arange(5)
    scores = np.array([0.0, 0.5, 0.0, 0.25, 0.0])
    selection = PowerSampling(seed=1)
    counts = np.zeros(3)

    for _ in range(3_000):
        third = selection.select(ids, scores, 3)[2]
        counts[[0, 2, 4].index(int(third))] += 1

    assert chi_square(counts, np.full(3, 1 / 3)) < CHI_SQUARE_0999[2]


@pytest.mark.filterwarnings("error")
def test_power_all_zero_scores():
    ids = np.array([4, 6, 9])

    result = PowerSampling(seed=0).select(ids, np.zeros(3), 3)

    assert sorted(result.tolist()) == [4, 6, 9]


def test_power_accepts_negative_zero():
    result = PowerSampling(seed=0).select(np.array([1, 2]), np.array([-0.0, 1.0]), 1)

    assert result.tolist() == [2]


@pytest.mark.parametrize(
    ("selection", "expected"),
    [
        (SoftmaxSampling(seed=7), "SoftmaxSampling(temperature=1.0, seed=7)"),
        (PowerSampling(temperature=0.5, seed=3), "PowerSampling(temperature=0.5, seed=3)"),
        (SoftRankSampling(temperature=2, seed=0), "SoftRankSampling(temperature=2.0, seed=0)"),
    ],
    ids=["softmax", "power", "soft-rank"],
)
def test_repr(selection, expected):
    assert repr(selection) == expected


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_unseeded_draws_from_torch_generator(kind):
    torch.manual_seed(11)
    first = kind()
    torch.manual_seed(11)
    second = kind()
    torch.manual_seed(12)
    other = kind()

    assert first.seed == second.seed
    assert first.seed != other.seed
    assert 0 <= first.seed < 2**32
    assert repr(first).endswith(f"seed={first.seed})")


@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_is_selection(kind):
    assert isinstance(kind(), Selection)


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"temperature": 0.0}, r"Invalid `temperature`: expected a finite number greater than 0"),
        ({"temperature": -1.0}, r"Invalid `temperature`.*received -1\.0"),
        ({"temperature": float("nan")}, r"Invalid `temperature`.*received nan"),
        ({"temperature": float("inf")}, r"Invalid `temperature`.*received inf"),
        ({"temperature": "1.0"}, r"Invalid `temperature`.*received 1\.0"),
        ({"temperature": True}, r"Invalid `temperature`.*received True"),
        ({"temperature": None}, r"Invalid `temperature`.*received None"),
        ({"seed": -1}, r"Invalid `seed`: expected a nonnegative int or None, received -1"),
        ({"seed": 1.5}, r"Invalid `seed`.*received 1\.5"),
        ({"seed": True}, r"Invalid `seed`.*received True"),
        ({"seed": "0"}, r"Invalid `seed`.*received 0"),
    ],
    ids=[
        "temperature-zero",
        "temperature-negative",
        "temperature-nan",
        "temperature-inf",
        "temperature-string",
        "temperature-bool",
        "temperature-none",
        "seed-negative",
        "seed-float",
        "seed-bool",
        "seed-string",
    ],
)
@pytest.mark.parametrize("kind", KINDS, ids=lambda kind: kind.__name__)
def test_constructor_errors(kind, arguments, match):
    with pytest.raises(InvalidArgumentError, match=match):
        kind(**arguments)


@pytest.mark.parametrize(
    ("scores", "order", "match"),
    [
        (
            [0.5, -0.1, 0.2],
            HIGHER,
            r"Invalid `scores`.*minimum score of -0\.1, with 1 of 3 scores below 0\. "
            r"Use SoftmaxSampling or SoftRankSampling",
        ),
        (
            [0.5, 0.1, 0.2],
            LOWER,
            r"Invalid `order`.*higher-is-better scores, received ScoreOrder\.LOWER_FIRST\. "
            r"Use SoftmaxSampling or SoftRankSampling",
        ),
    ],
    ids=["negative-score", "lower-first"],
)
def test_power_errors(scores, order, match):
    with pytest.raises(InvalidArgumentError, match=match):
        PowerSampling(seed=0).select(np.arange(3), np.array(scores), 1, order)


def state_of_another_generator() -> dict:
    return {"bit_generator": np.random.MT19937(0).state}


ENTRY_ERROR = r'Invalid `state_dict\["bit_generator"\]`'


@pytest.mark.parametrize(
    ("state", "match"),
    [
        ([1, 2], r"Invalid `state_dict`: expected a dict returned by state_dict\(\), received a list"),
        ({}, r'Invalid `state_dict`: expected a dict with a "bit_generator" entry.* keys \[\]'),
        (state_of_another_generator(), ENTRY_ERROR + ": expected the state of a PCG64"),
        ({"bit_generator": "PCG64"}, ENTRY_ERROR + ": expected the state of a PCG64"),
        (
            {"bit_generator": {"bit_generator": "PCG64", "state": {}}},
            ENTRY_ERROR + ": expected a complete PCG64 state",
        ),
    ],
    ids=["not-a-dict", "missing-entry", "other-generator", "not-a-state", "incomplete-state"],
)
def test_load_state_dict_errors(state, match):
    with pytest.raises(InvalidArgumentError, match=match):
        SoftmaxSampling(seed=0).load_state_dict(state)
