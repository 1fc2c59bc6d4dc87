"""Tests for the Bayesian scores over Monte Carlo logits of shape (N, T, C).

Expected values come from closed forms, hand-counted votes, or a reference written with
mpmath over nested lists, never from the code under test. The reference computes BALD
as the mean KL divergence of each sample from the mean predictive distribution, which
is a different formula from the entropy difference.
"""

from __future__ import annotations

import functools
import math

import mpmath
import pytest
import torch

from energizer.acquisition import (
    bald,
    entropy,
    expected_entropy,
    mean_std,
    predictive_entropy,
    variation_ratios,
)

INF = math.inf
LN2 = math.log(2)
SCORES = [predictive_entropy, expected_entropy, bald, variation_ratios, mean_std]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


# --- reference -------------------------------------------------------------------

# 50 significant digits, so that the reference has no rounding error at the precision
# of float64, even for probabilities of 1 - 1e-18. mpmath is installed with torch,
# through sympy.
REFERENCE_DIGITS = 50


def reference_softmax(row: list[float]) -> list[mpmath.mpf]:
    """Compute softmax of one row in mpmath, mapping -inf to probability 0."""
    weights = [mpmath.exp(x) for x in row]
    total = mpmath.fsum(weights)
    return [w / total for w in weights]


def reference_entropy(probs: list) -> mpmath.mpf:
    return -mpmath.fsum(p * mpmath.log(p) for p in probs if p > 0)


def reference_argmax(row: list[float]) -> int:
    """Return the first index of the maximum, found with an explicit loop."""
    best = 0
    for index, value in enumerate(row):
        if value > row[best]:
            best = index
    return best


def reference_item_scores(samples: list[list[float]]) -> dict:
    """Compute the five scores of one item from its T sample rows of C logits."""
    return _cached_reference_item_scores(tuple(tuple(row) for row in samples))


# Each test runs once per score function on the same logits, so the slow mpmath
# reference is computed once per item.
@functools.lru_cache(maxsize=None)
def _cached_reference_item_scores(samples: tuple[tuple[float, ...], ...]) -> dict:
    with mpmath.workdps(REFERENCE_DIGITS):
        return _reference_item_scores(samples)


def _reference_item_scores(samples: tuple[tuple[float, ...], ...]) -> dict:
    num_samples = len(samples)
    num_classes = len(samples[0])
    probs = [reference_softmax(row) for row in samples]
    mean_probs = [
        mpmath.fsum(probs[t][c] for t in range(num_samples)) / num_samples
        for c in range(num_classes)
    ]

    # BALD as the mean over samples of KL(p_t || p̄). A class with p_t = 0 adds nothing,
    # and p_t > 0 implies p̄ > 0.
    divergences = [
        mpmath.fsum(
            p * (mpmath.log(p) - mpmath.log(mean_probs[c])) for c, p in enumerate(row) if p > 0
        )
        for row in probs
    ]

    votes = [0] * num_classes
    for row in samples:
        votes[reference_argmax(row)] += 1

    stds = []
    for c in range(num_classes):
        values = [probs[t][c] for t in range(num_samples)]
        mean = mpmath.fsum(values) / num_samples
        variance = mpmath.fsum((v - mean) ** 2 for v in values) / num_samples
        stds.append(mpmath.sqrt(variance))

    return {
        predictive_entropy: float(reference_entropy(mean_probs)),
        expected_entropy: float(mpmath.fsum(reference_entropy(row) for row in probs) / num_samples),
        bald: float(mpmath.fsum(divergences) / num_samples),
        variation_ratios: 1 - max(votes) / num_samples,
        mean_std: float(mpmath.fsum(stds) / num_classes),
    }


def reference_scores(score, logits: torch.Tensor) -> torch.Tensor:
    rows = logits.double().tolist()
    expected = [reference_item_scores(samples)[score] for samples in rows]
    return torch.tensor(expected, dtype=torch.float64)


def random_logits(generator, num_items, num_samples, num_classes, scale=3.0):
    return torch.randn(num_items, num_samples, num_classes, generator=generator).double() * scale


def mask_with_neg_inf(logits: torch.Tensor, generator, fraction: float) -> torch.Tensor:
    """Set random logits to -inf, keeping each sample's largest logit finite."""
    masked = torch.rand(logits.shape, generator=generator) < fraction
    top = logits.argmax(dim=-1, keepdim=True)
    masked.scatter_(-1, top, False)
    return logits.masked_fill(masked, -INF)


# --- closed forms ----------------------------------------------------------------


# Probability rows chosen by hand: logits ln p give softmax p when sum(p) == 1.
PROBABILITY_ROWS = [
    [0.75, 0.25],
    [0.5, 0.25, 0.25],
    [0.25, 0.5, 0.125, 0.125],
    [1.0, 0.0],
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("num_samples", [1, 2, 5])
@pytest.mark.parametrize("probs", PROBABILITY_ROWS)
def test_identical_samples_closed_form(probs, num_samples, dtype):
    row = [math.log(p) if p > 0 else -INF for p in probs]
    logits = torch.tensor([[row] * num_samples], dtype=dtype)
    expected = -math.fsum(p * math.log(p) for p in probs if p > 0)
    tolerance = 1e-6 if dtype == torch.float32 else 1e-12

    assert predictive_entropy(logits).item() == pytest.approx(expected, rel=tolerance)
    assert expected_entropy(logits).item() == pytest.approx(expected, rel=tolerance)
    assert 0.0 <= bald(logits).item() <= tolerance
    assert variation_ratios(logits).item() == 0.0
    assert mean_std(logits).item() <= tolerance


@pytest.mark.parametrize("num_samples", [2, 3, 7])
def test_bald_identical_samples_nonnegative(num_samples):
    # In float32, the entropy difference of identical samples rounds below 0 for about
    # one item in ten, and bald clamps it to 0.
    generator = torch.Generator().manual_seed(10)
    rows = torch.randn(200, 1, 5, generator=generator) * 3
    logits = rows.expand(200, num_samples, 5)

    scores = bald(logits)

    assert (scores >= 0).all(), scores.min()
    assert (scores <= 1e-6).all(), scores.max()


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_opposite_certain_samples(dtype):
    logits = torch.tensor([[[0.0, -INF], [-INF, 0.0]]], dtype=dtype)

    assert predictive_entropy(logits).item() == pytest.approx(LN2, rel=1e-7)
    assert expected_entropy(logits).item() == 0.0
    assert bald(logits).item() == pytest.approx(LN2, rel=1e-7)
    assert variation_ratios(logits).item() == 0.5
    assert mean_std(logits).item() == pytest.approx(0.5, rel=1e-7)


@pytest.mark.parametrize("num_classes", [2, 3, 5])
def test_distinct_one_hot_samples(num_classes):
    # Sample t puts all mass on class t, so every score is at its upper bound.
    logits = torch.full((1, num_classes, num_classes), -INF, dtype=torch.float64)
    logits[0].fill_diagonal_(0.0)
    log_c = math.log(num_classes)

    assert predictive_entropy(logits).item() == pytest.approx(log_c, rel=1e-12)
    assert bald(logits).item() == pytest.approx(log_c, rel=1e-12)
    assert variation_ratios(logits).item() == pytest.approx(1 - 1 / num_classes, rel=1e-12)
    expected_std = math.sqrt(num_classes - 1) / num_classes
    assert mean_std(logits).item() == pytest.approx(expected_std, rel=1e-12)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("num_samples", "num_classes"), [(1, 2), (4, 3), (10, 1000)])
def test_uniform_logits_closed_form(num_samples, num_classes, dtype):
    logits = torch.zeros(3, num_samples, num_classes, dtype=dtype)
    expected_log_c = torch.full((3,), math.log(num_classes), dtype=dtype)
    zeros = torch.zeros(3, dtype=dtype)

    torch.testing.assert_close(predictive_entropy(logits), expected_log_c)
    torch.testing.assert_close(expected_entropy(logits), expected_log_c)
    torch.testing.assert_close(bald(logits), zeros, atol=1e-6, rtol=0.0)
    # Every sample ties on all classes and predicts class 0, so all votes agree.
    assert torch.equal(variation_ratios(logits), zeros)
    torch.testing.assert_close(mean_std(logits), zeros)


def test_mean_std_two_classes():
    # Class 0 has probabilities 0.8 and 0.4 over the two samples: mean 0.6, and the
    # population standard deviation is 0.2 (the sample one, dividing by T - 1, is
    # 0.2 * sqrt(2)). Class 1 mirrors it.
    rows = [[[math.log(0.8), math.log(0.2)], [math.log(0.4), math.log(0.6)]]]

    assert mean_std(torch.tensor(rows, dtype=torch.float64)).item() == pytest.approx(0.2, rel=1e-12)
    assert mean_std(torch.tensor(rows)).item() == pytest.approx(0.2, rel=1e-6)


def test_mean_std_three_samples():
    # Class 0 has 0.9, 0.5 and 0.1: deviations 0.4, 0 and -0.4, variance 0.32 / 3.
    probs = [[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]]
    logits = torch.tensor([[[math.log(p) for p in row] for row in probs]], dtype=torch.float64)

    assert mean_std(logits).item() == pytest.approx(math.sqrt(0.32 / 3), rel=1e-12)


# (case id, number of classes, predicted class of each sample, expected score)
VOTES = [
    ("unanimous", 3, [2, 2, 2], 0.0),
    ("one dissent", 3, [0, 0, 1], 1 / 3),
    ("plurality", 3, [0, 1, 2, 2], 0.5),
    ("tied mode", 2, [0, 0, 1, 1], 0.5),
    ("all distinct", 4, [3, 1, 0, 2], 0.75),
    ("more samples than classes", 2, [1, 0, 1, 0, 1], 0.4),
    ("one sample", 5, [4], 0.0),
]


@pytest.mark.parametrize(
    ("case", "num_classes", "predictions", "expected"), VOTES, ids=[case[0] for case in VOTES]
)
def test_variation_ratios_hand_counted(case, num_classes, predictions, expected):
    logits = torch.zeros(1, len(predictions), num_classes)
    for sample, predicted in enumerate(predictions):
        logits[0, sample, predicted] = 2.0

    assert variation_ratios(logits).item() == pytest.approx(expected, rel=1e-6)


def test_variation_ratios_tie_lowest_class():
    # The first two samples tie on classes 0 and 1. Taking the lowest index gives votes
    # [0, 0, 1] and 1/3. Taking the highest would give [1, 1, 1] and 0.
    logits = torch.tensor([[[1.0, 1.0, 0.0], [1.0, 1.0, 0.0], [0.0, 2.0, 0.0]]])

    assert variation_ratios(logits).item() == pytest.approx(1 / 3, rel=1e-6)


def test_single_sample_matches_entropy():
    generator = torch.Generator().manual_seed(3)
    logits = random_logits(generator, 20, 1, 5)

    # The Bayesian scores and entropy compute the same value in different orders of
    # operations, so they agree to rounding, not bit for bit.
    torch.testing.assert_close(predictive_entropy(logits), entropy(logits[:, 0]), rtol=1e-13, atol=1e-15)
    torch.testing.assert_close(expected_entropy(logits), entropy(logits[:, 0]), rtol=1e-13, atol=1e-15)
    assert torch.equal(bald(logits), torch.zeros(20, dtype=torch.float64))
    assert torch.equal(variation_ratios(logits), torch.zeros(20, dtype=torch.float64))
    assert torch.equal(mean_std(logits), torch.zeros(20, dtype=torch.float64))


# --- reference values and -inf ---------------------------------------------------


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize(("num_samples", "num_classes"), [(1, 4), (3, 2), (8, 6), (20, 10)])
def test_random_logits_match_reference(score, num_samples, num_classes):
    generator = torch.Generator().manual_seed(num_samples * 100 + num_classes)
    logits = random_logits(generator, 40, num_samples, num_classes)

    torch.testing.assert_close(
        score(logits), reference_scores(score, logits), rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("score", SCORES)
def test_partial_neg_inf_matches_reference(score):
    generator = torch.Generator().manual_seed(4)
    logits = mask_with_neg_inf(random_logits(generator, 40, 6, 5), generator, fraction=0.4)

    scores = score(logits)

    assert torch.isfinite(scores).all()
    torch.testing.assert_close(scores, reference_scores(score, logits), rtol=1e-9, atol=1e-12)


# Item 0: class 2 is -inf in two of three samples. Item 1: class 0 is -inf in one sample,
# and class 1 is -inf in every sample.
PARTIAL_NEG_INF = [
    [[0.0, 1.0, -INF], [2.0, 0.0, 0.5], [-INF, 1.5, -INF]],
    [[-INF, -INF, 0.3], [1.0, -INF, 0.0], [0.2, -INF, 0.2]],
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("score", SCORES)
def test_hand_written_neg_inf(score, dtype):
    logits = torch.tensor(PARTIAL_NEG_INF, dtype=dtype)
    tolerance = 1e-6 if dtype == torch.float32 else 1e-12

    scores = score(logits)
    expected = reference_scores(score, logits).to(dtype)

    assert torch.isfinite(scores).all()
    torch.testing.assert_close(scores, expected, rtol=tolerance, atol=tolerance)


# mean_std is left out because it averages over all C classes, and an impossible class
# adds a standard deviation of 0 to that mean.
@pytest.mark.parametrize("score", [predictive_entropy, expected_entropy, bald, variation_ratios])
def test_neg_inf_class_ignored(score):
    generator = torch.Generator().manual_seed(5)
    logits = random_logits(generator, 10, 4, 3)
    padded = torch.cat([logits, torch.full((10, 4, 2), -INF, dtype=torch.float64)], dim=-1)

    torch.testing.assert_close(score(padded), score(logits), rtol=1e-12, atol=1e-15)


# --- precision -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_confident_predictive_entropy_precise(dtype):
    # Two samples with logits [g, 0]: each has p2 = 1 / (1 + e^g), and the mean
    # predictive distribution is [1 - q, q] with q the mean of the two p2. For the
    # larger gaps, q is below the spacing of floats near 1, so ln(1 - q) taken from a
    # rounded 1 - q would lose the term q that is part of the entropy.
    gap_pairs = [(20.0, 25.0), (30.0, 35.0), (40.0, 45.0)]
    logits = torch.tensor([[[g1, 0.0], [g2, 0.0]] for g1, g2 in gap_pairs], dtype=dtype)

    expected = []
    for g1, g2 in gap_pairs:
        q = (1 / (1 + math.exp(g1)) + 1 / (1 + math.exp(g2))) / 2
        expected.append(-q * math.log(q) - (1 - q) * math.log1p(-q))

    scores = predictive_entropy(logits)

    assert (scores > 0).all(), scores
    assert scores.tolist() == pytest.approx(expected, rel=1e-5, abs=0.0)


# Float16 values between 32768 and 65504 are multiples of 32, so these are exact.
FP16_ITEMS = [
    [[6e4, -6e4], [-6e4, 6e4]],
    [[6e4, 59968.0, -6e4], [59968.0, 6e4, -6e4]],
    [[-6e4, -59968.0, -6e4], [-6e4, -6e4, -59968.0], [6e4, 6e4, 6e4]],
    [[6e4, -INF], [59968.0, 6e4]],
]


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("samples", FP16_ITEMS)
def test_float16_large_logits(score, samples):
    logits = torch.tensor([samples], dtype=torch.float16)
    expected = reference_item_scores(samples)[score]

    scores = score(logits)

    assert logits[0].tolist() == samples, "logits are not exact in float16"
    assert scores.dtype == torch.float32
    assert torch.isfinite(scores).all()
    assert scores.item() == pytest.approx(expected, rel=1e-5, abs=0.0)


# --- invariants ------------------------------------------------------------------


@pytest.mark.parametrize("score", SCORES)
def test_item_permutation_permutes_scores(score):
    generator = torch.Generator().manual_seed(6)
    logits = random_logits(generator, 30, 5, 4)
    permutation = torch.randperm(30, generator=generator)

    permuted_scores = score(logits[permutation])

    torch.testing.assert_close(permuted_scores, score(logits)[permutation], rtol=1e-12, atol=0.0)


@pytest.mark.parametrize("score", SCORES)
def test_sample_permutation_invariant(score):
    generator = torch.Generator().manual_seed(7)
    logits = mask_with_neg_inf(random_logits(generator, 30, 6, 4), generator, fraction=0.2)
    permutation = torch.randperm(6, generator=generator)

    permuted_scores = score(logits[:, permutation])

    torch.testing.assert_close(permuted_scores, score(logits), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("score", SCORES)
def test_class_permutation_invariant(score):
    generator = torch.Generator().manual_seed(8)
    logits = mask_with_neg_inf(random_logits(generator, 30, 6, 7), generator, fraction=0.2)
    permutation = torch.randperm(7, generator=generator)

    permuted_scores = score(logits[:, :, permutation])

    torch.testing.assert_close(permuted_scores, score(logits), rtol=1e-12, atol=1e-15)


def test_scores_within_bounds():
    generator = torch.Generator().manual_seed(9)
    # Item logit scales from near-uniform (0.1) to near-certain (50).
    item_scales = torch.tensor([0.1, 1.0, 10.0, 50.0]).repeat(16)[:, None, None]

    for seed in range(60):
        num_samples = int(torch.randint(1, 10, (1,), generator=generator))
        num_classes = int(torch.randint(1, 10, (1,), generator=generator))
        logits = torch.randn(64, num_samples, num_classes, generator=generator) * item_scales
        logits = mask_with_neg_inf(logits, generator, fraction=0.1 * (seed % 3))
        case = f"seed {seed}, T={num_samples}, C={num_classes}"
        log_c = math.log(num_classes)
        log_t = math.log(num_samples)

        total = predictive_entropy(logits)
        aleatoric = expected_entropy(logits)
        mutual_information = bald(logits)
        ratios = variation_ratios(logits)
        stds = mean_std(logits)

        assert (mutual_information >= 0).all(), case
        assert (mutual_information <= total).all(), case
        assert (mutual_information <= log_t * (1 + 1e-6) + 1e-6).all(), case
        assert (total <= log_c * (1 + 1e-6) + 1e-7).all(), case
        assert (aleatoric >= 0).all(), case
        assert (aleatoric <= total * (1 + 1e-5) + 1e-6).all(), case
        assert (ratios >= 0).all(), case
        max_ratio = 1 - math.ceil(num_samples / num_classes) / num_samples
        assert (ratios <= max_ratio + 1e-7).all(), case
        assert (stds >= 0).all(), case
        assert (stds <= math.sqrt(num_classes - 1) / num_classes + 1e-6).all(), case


# expected_entropy is left out because it ignores disagreement: both items below have
# samples of equal entropy.
@pytest.mark.parametrize("score", [predictive_entropy, bald, variation_ratios, mean_std])
def test_disagreeing_samples_score_higher(score):
    agreeing = [[4.0, 0.0, 0.0], [4.0, 0.0, 0.0], [4.0, 0.0, 0.0]]
    disagreeing = [[4.0, 0.0, 0.0], [0.0, 4.0, 0.0], [0.0, 0.0, 4.0]]

    scores = score(torch.tensor([agreeing, disagreeing]))

    assert scores[1] > scores[0]


# --- dtype, device, shape --------------------------------------------------------


DTYPES = [
    (torch.float16, torch.float32),
    (torch.bfloat16, torch.float32),
    (torch.float32, torch.float32),
    (torch.float64, torch.float64),
]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize(("input_dtype", "output_dtype"), DTYPES)
def test_output_dtype_and_device(score, input_dtype, output_dtype, device):
    logits = torch.tensor(
        [[[0.5, -1.0, 2.0], [0.0, -INF, 1.0]], [[0.0, 0.0, 0.0], [3.0, 1.0, -2.0]]],
        dtype=input_dtype,
        device=device,
    )

    scores = score(logits)

    assert scores.dtype == output_dtype
    assert scores.device == logits.device
    assert scores.shape == (2,)


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize(("input_dtype", "output_dtype"), DTYPES)
def test_empty_batch_returns_empty(score, input_dtype, output_dtype):
    scores = score(torch.empty(0, 5, 4, dtype=input_dtype))

    assert scores.shape == (0,)
    assert scores.dtype == output_dtype


@pytest.mark.parametrize("score", SCORES)
def test_inference_mode_supported(score):
    logits = torch.tensor([[[0.5, -1.0, 2.0], [0.0, -INF, 1.0]]])
    expected = score(logits)

    with torch.inference_mode():
        scores = score(logits.clone())

    assert torch.equal(scores, expected)


@pytest.mark.parametrize("score", SCORES)
def test_input_left_unchanged(score):
    logits = torch.tensor([[[0.5, -1.0, 2.0], [3.0, -INF, 1.0]]])
    original = logits.clone()

    score(logits)

    assert torch.equal(logits, original)


# --- invalid input ---------------------------------------------------------------


IMPOSSIBLE_SAMPLE = torch.zeros(3, 4, 2)
IMPOSSIBLE_SAMPLE[2, 1] = -INF

# (case id, logits, exception type, regex that the message must match)
INVALID = [
    (
        "list",
        [[[0.0, 1.0]]],
        TypeError,
        r"Invalid `logits`: expected a torch\.Tensor of shape \(N, T, C\), received list\.",
    ),
    (
        "int64",
        torch.zeros(2, 3, 4, dtype=torch.int64),
        TypeError,
        r"expected a floating dtype .*, received torch\.int64\. .*logits\.float\(\)",
    ),
    (
        "2-D",
        torch.zeros(4, 3),
        ValueError,
        r"expected a 3-D tensor of shape \(N, T, C\), with Monte Carlo samples on dim 1, "
        r"received shape \(4, 3\)\. .*single deterministic pass.*energizer\.acquisition\.entropy",
    ),
    (
        "4-D",
        torch.zeros(2, 3, 4, 5),
        ValueError,
        r"expected a 3-D tensor of shape \(N, T, C\), received shape \(2, 3, 4, 5\)\. "
        r"Reshape it to \(N, T, C\)",
    ),
    (
        "C=0",
        torch.zeros(3, 2, 0),
        ValueError,
        r"expected a last \(class\) dim of size C >= 1, received shape \(3, 2, 0\)",
    ),
    (
        "T=0",
        torch.zeros(3, 0, 4),
        ValueError,
        r"expected at least one Monte Carlo sample on dim 1 \(T >= 1\), "
        r"received shape \(3, 0, 4\)",
    ),
    (
        "NaN",
        torch.tensor([[[0.0, 1.0]], [[math.nan, 0.0]], [[0.0, 0.0]]]),
        ValueError,
        r"received NaN or \+inf in 1 of 3 rows \(first at row 1\)",
    ),
    (
        "+inf",
        torch.tensor([[[0.0, 1.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, INF]]]),
        ValueError,
        r"received NaN or \+inf in 1 of 2 rows \(first at row 1\)\. Check the model",
    ),
    (
        "sample all -inf",
        IMPOSSIBLE_SAMPLE,
        ValueError,
        r"expected at least one logit above -inf in every row, "
        r"received all logits -inf in 1 of 3 rows \(first at row 2\)",
    ),
]


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize(
    ("case", "logits", "error", "message"), INVALID, ids=[case[0] for case in INVALID]
)
def test_invalid_logits_raise(score, case, logits, error, message):
    with pytest.raises(error, match=message):
        score(logits)
