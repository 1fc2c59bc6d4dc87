"""Tests for greedy BatchBALD selection.

Expected batches come from ``joint_entropy_reference``, a float64 numpy brute force that
enumerates every class configuration of a batch, never from the code under test.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch
from joint_entropy_reference import (
    bald_scores,
    greedy_batch,
    greedy_gains,
    joint_mutual_information,
    probabilities,
)

from energizer.acquisition.batch_bald import _expected_entropy, batch_bald

INF = math.inf


def random_logits(seed: int, num_items: int, num_mc_samples: int, num_classes: int) -> torch.Tensor:
    """Make float64 MC logits whose items differ in how much their samples disagree."""
    generator = torch.Generator().manual_seed(seed)
    shape = (num_items, num_mc_samples, num_classes)
    mean = 2.0 * torch.randn(num_items, 1, num_classes, generator=generator, dtype=torch.float64)
    return mean + 3.0 * torch.randn(shape, generator=generator, dtype=torch.float64)


def assert_valid_positions(positions: torch.Tensor, query_size: int, num_items: int) -> None:
    assert positions.dtype == torch.int64
    assert positions.shape == (query_size,)
    assert len(set(positions.tolist())) == query_size
    assert int(positions.min()) >= 0
    assert int(positions.max()) < num_items


# --- exact path against the brute force ---------------------------------------------


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("query_size", [2, 3])
def test_exact_steps_match_brute_force_argmax(seed, query_size):
    logits = random_logits(seed, num_items=6, num_mc_samples=4, num_classes=3)
    probs = probabilities(logits)

    chosen = batch_bald(logits, query_size, max_memory_bytes=2**30).tolist()

    for step, item in enumerate(chosen):
        gains = greedy_gains(probs, chosen[:step])
        assert item == int(np.argmax(gains)), f"step {step}: gains {gains}"


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_exact_batch_equals_brute_force_greedy(seed, dtype):
    logits = random_logits(seed, num_items=6, num_mc_samples=4, num_classes=3)

    chosen = batch_bald(logits.to(dtype), 3, max_memory_bytes=2**30)

    assert chosen.tolist() == greedy_batch(probabilities(logits), 3)


def test_exact_batch_with_many_candidate_blocks():
    # Step 4 has 10 ** 3 configurations and 200 x 10 candidate columns, more than one
    # block of the default size contains, so the candidates are split into several blocks.
    logits = random_logits(7, num_items=200, num_mc_samples=8, num_classes=10)

    chosen = batch_bald(logits, 4)

    assert chosen.tolist() == greedy_batch(probabilities(logits), 4)


# --- sampled path -------------------------------------------------------------------

# 10 items, 64 MC samples, 4 classes, 7 items chosen. With num_samples=1000, steps 6 and 7
# would need 4 ** 5 = 1,024 and 4 ** 6 = 4,096 configurations, so they are sampled.
SAMPLED_SHAPE = {"num_items": 10, "num_mc_samples": 64, "num_classes": 4}
SAMPLED_QUERY_SIZE = 7


@pytest.mark.parametrize("problem_seed", [0, 2])
def test_sampled_steps_agree_with_exact_greedy(problem_seed):
    logits = random_logits(problem_seed, **SAMPLED_SHAPE)
    probs = probabilities(logits)
    expected = greedy_batch(probs, SAMPLED_QUERY_SIZE)
    for step in (5, 6):
        gains = np.sort(greedy_gains(probs, expected[:step]))
        assert gains[-1] - gains[-2] > 0.01, f"step {step + 1} has no clear gap: {gains}"

    for seed in range(3):
        chosen = batch_bald(logits.float(), SAMPLED_QUERY_SIZE, num_samples=1000, seed=seed)
        assert chosen.tolist() == expected, f"seed {seed}"


def test_sampled_batch_information_near_exact():
    logits = random_logits(5, **SAMPLED_SHAPE)
    probs = probabilities(logits)
    exact = joint_mutual_information(probs, greedy_batch(probs, SAMPLED_QUERY_SIZE))

    for seed in range(6):
        chosen = batch_bald(logits, SAMPLED_QUERY_SIZE, num_samples=300, seed=seed).tolist()
        sampled = joint_mutual_information(probs, chosen)
        assert sampled >= exact - 0.03, f"seed {seed}: {chosen}"


def test_sampled_same_seed_same_batch():
    logits = random_logits(0, **SAMPLED_SHAPE).float()

    first = batch_bald(logits, SAMPLED_QUERY_SIZE, num_samples=300, seed=11)
    second = batch_bald(logits, SAMPLED_QUERY_SIZE, num_samples=300, seed=11)

    assert torch.equal(first, second)


def test_sampled_seed_changes_batch():
    # With 300 configurations the estimate is noisy enough that some of 10 seeds change a
    # late pick, which shows that the seed reaches the sampler.
    logits = random_logits(0, **SAMPLED_SHAPE).float()

    batches = {
        tuple(batch_bald(logits, SAMPLED_QUERY_SIZE, num_samples=300, seed=seed).tolist())
        for seed in range(10)
    }

    assert len(batches) > 1


def test_sampled_without_seed_uses_global_generator():
    logits = random_logits(0, **SAMPLED_SHAPE).float()

    torch.manual_seed(5)
    first = batch_bald(logits, SAMPLED_QUERY_SIZE, num_samples=300)
    torch.manual_seed(5)
    second = batch_bald(logits, SAMPLED_QUERY_SIZE, num_samples=300)

    assert torch.equal(first, second)


def test_tiny_configuration_probabilities_finite():
    # Sampled configurations of many items have p(m | w_t) far below the smallest float32
    # number. Shifting every log p(m | w_t) by -300 multiplies each p(m | w_t) by e**-300,
    # which leaves p(w_t | m) and so every conditional entropy unchanged.
    generator = torch.Generator().manual_seed(0)
    log_joint = -5.0 * torch.rand(50, 8, generator=generator)
    candidate_probs = torch.softmax(torch.randn(8, 30, 3, generator=generator), dim=-1)
    candidate_probs = candidate_probs.reshape(8, 90)

    expected = _expected_entropy(log_joint, True, candidate_probs, 3, 2**20)
    shifted = _expected_entropy(log_joint - 300.0, True, candidate_probs, 3, 2**20)

    assert torch.isfinite(shifted).all()
    torch.testing.assert_close(shifted, expected)


def test_many_steps_give_distinct_positions():
    logits = random_logits(1, num_items=45, num_mc_samples=8, num_classes=50).float()

    chosen = batch_bald(logits, 40, num_samples=200, seed=0)

    assert_valid_positions(chosen, 40, 45)


# --- memory bound -----------------------------------------------------------------


def stated_minimum_bytes(logits: torch.Tensor, query_size: int, **kwargs) -> int:
    """Return the minimum max_memory_bytes that the error message of batch_bald states."""
    with pytest.raises(ValueError, match="Raise max_memory_bytes to") as raised:
        batch_bald(logits, query_size, max_memory_bytes=0, **kwargs)
    return int(re.search(r"Raise max_memory_bytes to (\d+) or more", str(raised.value))[1])


def test_minimum_memory_gives_same_batch():
    logits = random_logits(3, num_items=40, num_mc_samples=6, num_classes=4)
    minimum = stated_minimum_bytes(logits, 4)

    chosen = batch_bald(logits, 4, max_memory_bytes=minimum)

    assert chosen.tolist() == greedy_batch(probabilities(logits), 4)
    with pytest.raises(ValueError, match=f"at least {minimum} bytes"):
        batch_bald(logits, 4, max_memory_bytes=minimum - 1)


def test_minimum_memory_on_sampled_path():
    logits = random_logits(0, **SAMPLED_SHAPE)
    minimum = stated_minimum_bytes(logits, SAMPLED_QUERY_SIZE, num_samples=1000)

    chosen = batch_bald(
        logits, SAMPLED_QUERY_SIZE, num_samples=1000, max_memory_bytes=minimum, seed=0
    )

    assert torch.equal(chosen, batch_bald(logits, SAMPLED_QUERY_SIZE, num_samples=1000, seed=0))


def test_memory_error_names_configuration_count():
    # Step 3 with 2 classes has at most 2 ** 2 = 4 configurations.
    with pytest.raises(ValueError, match="against 4 class configurations"):
        batch_bald(VALID, 3, max_memory_bytes=100)


def test_memory_error_counts_num_samples_cap():
    # With 10 classes, step 6 would enumerate 10 ** 5 configurations, but num_samples
    # caps every step at 500.
    logits = random_logits(0, num_items=8, num_mc_samples=4, num_classes=10)

    with pytest.raises(ValueError, match="against 500 class configurations"):
        batch_bald(logits, 6, num_samples=500, max_memory_bytes=100)


# --- BALD, ties and duplicates ------------------------------------------------------


@pytest.mark.parametrize("seed", range(4))
def test_query_size_one_is_bald_argmax(seed):
    logits = random_logits(seed, num_items=300, num_mc_samples=10, num_classes=5)
    scores = bald_scores(probabilities(logits))

    chosen = batch_bald(logits, 1)

    assert chosen.tolist() == [int(np.argmax(scores))]


def test_equal_items_lowest_position_wins():
    row = random_logits(0, num_items=1, num_mc_samples=5, num_classes=3)
    logits = row.expand(300, -1, -1).float()

    chosen = batch_bald(logits, 3)

    assert chosen.tolist() == [0, 1, 2]


def duplicated_pool_logits() -> torch.Tensor:
    """Build 4 MC samples, 2 classes: item A repeated at positions 0-2, item B at 3.

    A's label equals ``w mod 2`` with certainty, so BALD(A) = ln 2 and one label of A
    reveals everything that a copy of A could. B's label is ``w < 2`` with probability
    0.95, so BALD(B) = ln 2 - H(0.95) and it stays as informative once A is labelled.
    """
    certain_a = [[0.0, -INF], [-INF, 0.0], [0.0, -INF], [-INF, 0.0]]
    b = [[math.log(0.95), math.log(0.05)]] * 2 + [[math.log(0.05), math.log(0.95)]] * 2
    return torch.tensor([certain_a, certain_a, certain_a, b])


def test_duplicates_not_chosen_twice():
    logits = duplicated_pool_logits()

    chosen = batch_bald(logits, 2)

    assert chosen.tolist() == [0, 3]


def test_top_k_bald_repeats_duplicate():
    # The contrast that motivates BatchBALD: top-k BALD takes A twice.
    scores = bald_scores(probabilities(duplicated_pool_logits()))

    top_two = np.argsort(-scores, kind="stable")[:2]

    assert top_two.tolist() == [0, 1]


# --- input dtypes and zero probabilities --------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_zero_probabilities_match_brute_force(seed):
    logits = random_logits(seed, num_items=6, num_mc_samples=4, num_classes=3)
    generator = torch.Generator().manual_seed(100 + seed)
    impossible = torch.rand(logits.shape, generator=generator) < 0.3
    # Keep one class possible in every sample.
    impossible[..., 0] = False
    logits = logits.masked_fill(impossible, -INF)

    chosen = batch_bald(logits.float(), 3)

    assert chosen.tolist() == greedy_batch(probabilities(logits), 3)


def test_zero_probabilities_on_sampled_path():
    logits = random_logits(4, **SAMPLED_SHAPE)
    impossible = torch.zeros(logits.shape, dtype=torch.bool)
    impossible[:5, :, 1:3] = True
    logits = logits.masked_fill(impossible, -INF).float()

    chosen = batch_bald(logits, SAMPLED_QUERY_SIZE, num_samples=50, seed=0)

    assert_valid_positions(chosen, SAMPLED_QUERY_SIZE, SAMPLED_SHAPE["num_items"])


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_computed_in_float32(dtype):
    logits = random_logits(2, num_items=50, num_mc_samples=8, num_classes=6).to(dtype)

    chosen = batch_bald(logits, 5, seed=0)

    assert torch.equal(chosen, batch_bald(logits.float(), 5, seed=0))


@pytest.mark.parametrize(
    ("num_items", "num_mc_samples", "num_classes", "query_size"),
    [(1, 1, 1, 1), (5, 3, 1, 5), (7, 2, 2, 7), (30, 5, 3, 30), (200, 20, 10, 12)],
)
def test_positions_distinct_and_in_range(num_items, num_mc_samples, num_classes, query_size):
    logits = random_logits(0, num_items, num_mc_samples, num_classes).float()

    chosen = batch_bald(logits, query_size, num_samples=200, seed=0)

    assert_valid_positions(chosen, query_size, num_items)


# --- input errors -------------------------------------------------------------------

VALID = random_logits(0, num_items=4, num_mc_samples=3, num_classes=2).float()


@pytest.mark.parametrize(
    ("logits", "kwargs", "error", "match"),
    [
        ([[[0.0]]], {}, TypeError, "Invalid `logits`: expected a torch.Tensor"),
        (torch.zeros(4, 3, 2, dtype=torch.int64), {}, TypeError, "floating dtype"),
        (torch.zeros(4, 2), {}, ValueError, r"3-D tensor of shape \(N, T, C\)"),
        (torch.zeros(4, 0, 2), {}, ValueError, "at least one Monte Carlo sample"),
        (torch.zeros(4, 3, 0), {}, ValueError, "class"),
        (torch.full((4, 3, 2), math.nan), {}, ValueError, "NaN or \\+inf"),
        (torch.full((4, 3, 2), -INF), {}, ValueError, "at least one logit above -inf"),
        (VALID, {"query_size": 0}, ValueError, "`query_size`: expected an int between 1 and 4"),
        (VALID, {"query_size": 5}, ValueError, "`query_size`: expected an int between 1 and 4"),
        (VALID, {"query_size": 2.0}, TypeError, "`query_size`: expected an int, received float"),
        (VALID, {"query_size": True}, TypeError, "`query_size`: expected an int, received bool"),
        (VALID, {"num_samples": 0}, ValueError, "`num_samples`: expected an int >= 1"),
        (VALID, {"num_samples": 1e4}, TypeError, "`num_samples`: expected an int"),
        (VALID, {"max_memory_bytes": -1}, ValueError, "`max_memory_bytes`: expected an int >= 0"),
        (VALID, {"max_memory_bytes": 10}, ValueError, "Raise max_memory_bytes to \\d+ or more"),
        (VALID, {"seed": "0"}, TypeError, "`seed`: expected an int, received str"),
    ],
)
def test_invalid_input_raises(logits, kwargs, error, match):
    arguments = {"query_size": 2, **kwargs}

    with pytest.raises(error, match=match):
        batch_bald(logits, **arguments)
