"""Tests for the single-pass uncertainty scores: entropy, margin and least confidence.

Expected values come from hand-worked probabilities, Python's ``math`` module on
plain lists, or ``scipy.stats.entropy``, never from the code under test.
"""

from __future__ import annotations

import math

import pytest
import scipy.stats
import torch

from energizer.acquisition import entropy, least_confidence, margin
from energizer.acquisition._checks import all_finite, check_logits

INF = math.inf
SCORES = [entropy, margin, least_confidence]
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


def reference_probabilities(row: list[float]) -> list[float]:
    """Compute softmax of one row with Python floats, mapping -inf to probability 0."""
    top = max(row)
    weights = [math.exp(x - top) for x in row]
    total = math.fsum(weights)
    return [w / total for w in weights]


def reference_scores(row: list[float]) -> dict:
    """Compute the three scores of one row with scipy and Python floats."""
    probs = sorted(reference_probabilities(row), reverse=True)
    return {
        entropy: float(scipy.stats.entropy(probs)),
        margin: 1.0 - (probs[0] - probs[1]),
        least_confidence: 1.0 - probs[0],
    }


# --- values -----------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("num_classes", [2, 3, 10, 1000])
def test_uniform_logits_scores(num_classes, dtype):
    logits = torch.zeros(2, num_classes, dtype=dtype)

    expected_entropy = torch.full((2,), math.log(num_classes), dtype=dtype)
    expected_least_confidence = torch.full((2,), 1 - 1 / num_classes, dtype=dtype)

    torch.testing.assert_close(entropy(logits), expected_entropy)
    torch.testing.assert_close(least_confidence(logits), expected_least_confidence)
    assert torch.equal(margin(logits), torch.ones(2, dtype=dtype))


# Probabilities chosen by hand: logits ln p give softmax p when sum(p) == 1.
HAND_WORKED = [
    # p = [3/4, 1/4]
    (
        [math.log(3), 0.0],
        -(0.75 * math.log(0.75) + 0.25 * math.log(0.25)),
        0.5,
        0.25,
    ),
    # p = [1/2, 1/4, 1/4]
    (
        [math.log(2), 0.0, 0.0],
        1.5 * math.log(2),
        0.75,
        0.5,
    ),
    # p = [1/4, 1/2, 1/8, 1/8], top class not first
    (
        [math.log(2), math.log(4), 0.0, 0.0],
        1.75 * math.log(2),
        0.75,
        0.5,
    ),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(
    ("row", "expected_entropy", "expected_margin", "expected_lc"), HAND_WORKED
)
def test_hand_worked_scores(row, expected_entropy, expected_margin, expected_lc, dtype):
    logits = torch.tensor([row], dtype=dtype)

    assert entropy(logits).item() == pytest.approx(expected_entropy, rel=1e-6)
    assert margin(logits).item() == pytest.approx(expected_margin, rel=1e-6)
    assert least_confidence(logits).item() == pytest.approx(expected_lc, rel=1e-6)


@pytest.mark.parametrize("score", SCORES)
def test_random_logits_match_reference(score):
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(50, 6, generator=generator, dtype=torch.float64) * 4

    expected = [reference_scores(row)[score] for row in logits.tolist()]

    expected = torch.tensor(expected, dtype=torch.float64)
    torch.testing.assert_close(score(logits), expected, rtol=1e-9, atol=1e-12)


# --- certainty and -inf ----------------------------------------------------------


CERTAIN_ROWS = [
    [0.0, -INF],
    [-INF, 7.5],
    [0.0, -INF, -INF, -INF],
    [-3.0, -INF, -INF],
]


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("row", CERTAIN_ROWS)
def test_certain_row_scores_zero(score, row):
    scores = score(torch.tensor([row]))

    assert scores.item() == 0.0
    assert math.copysign(1.0, scores.item()) == 1.0, "score is -0.0, expected +0.0"


@pytest.mark.parametrize("score", [entropy, least_confidence])
def test_single_class_scores_zero(score):
    assert torch.equal(score(torch.tensor([[4.0], [-2.0]])), torch.zeros(2))


# Each pair: a row, and the same row with extra -inf classes at various positions.
NEG_INF_PAIRS = [
    ([1.0, 2.0], [1.0, 2.0, -INF]),
    ([1.0, 2.0], [-INF, 1.0, 2.0]),
    ([0.3, -1.2, 2.5], [0.3, -INF, -1.2, -INF, 2.5]),
    ([0.0, 0.0, 0.0], [0.0, -INF, 0.0, 0.0]),
    ([30.0, 0.0], [30.0, 0.0, -INF]),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize(("row", "padded_row"), NEG_INF_PAIRS)
def test_neg_inf_class_ignored(score, row, padded_row, dtype):
    expected = score(torch.tensor([row], dtype=dtype))
    padded = score(torch.tensor([padded_row], dtype=dtype))

    assert not padded.isnan().any()
    assert torch.equal(padded, expected)


# --- precision -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_confident_scores_stay_nonzero(dtype):
    gaps = [20.0, 30.0, 40.0]
    logits = torch.tensor([[gap, 0.0] for gap in gaps], dtype=dtype)

    # For logits [g, 0]: p2 = 1 / (1 + e^g), 1 - p1 = p2, and -ln p1 = ln(1 + e^-g).
    p2 = [1 / (1 + math.exp(gap)) for gap in gaps]
    expected_lc = p2
    expected_margin = [2 * p for p in p2]
    expected_entropy = [
        p * math.log1p(math.exp(gap)) + (1 - p) * math.log1p(math.exp(-gap))
        for p, gap in zip(p2, gaps)
    ]

    assert least_confidence(logits).tolist() == pytest.approx(expected_lc, rel=1e-5)
    assert margin(logits).tolist() == pytest.approx(expected_margin, rel=1e-5)
    assert entropy(logits).tolist() == pytest.approx(expected_entropy, rel=1e-5)


@pytest.mark.parametrize("score", SCORES)
def test_confident_scores_strictly_ordered(score):
    logits = torch.tensor([[gap, 0.0, -1.0] for gap in [10.0, 20.0, 30.0, 40.0]])

    scores = score(logits)

    assert (scores > 0).all(), scores
    assert (scores[:-1] > scores[1:]).all(), scores


# Float16 values between 32768 and 65504 are multiples of 32, so these are exact.
FP16_ROWS = [
    [6e4, -6e4],
    [6e4, 59968.0, -6e4],
    [-6e4, -59968.0, -6e4, -6e4],
    [6e4, 6e4],
    [6e4, 6e4, -6e4],
]


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize("row", FP16_ROWS)
def test_float16_large_logits(score, row):
    logits = torch.tensor([row], dtype=torch.float16)
    expected = reference_scores(row)[score]

    scores = score(logits)

    assert logits[0].tolist() == row, "row is not exact in float16"
    assert scores.dtype == torch.float32
    assert torch.isfinite(scores).all()
    assert scores.item() == pytest.approx(expected, rel=1e-5, abs=1e-7)


# --- symmetry and direction ------------------------------------------------------


@pytest.mark.parametrize("score", SCORES)
def test_identical_rows_score_equal(score):
    row = [0.7, -1.3, 2.2, 0.0]
    scores = score(torch.tensor([row, row, [0.0, 0.0, 0.0, 0.0], row]))

    assert scores[0] == scores[1]
    assert scores[0] == scores[3]


@pytest.mark.parametrize("score", SCORES)
def test_class_permutation_invariant(score):
    generator = torch.Generator().manual_seed(1)
    logits = torch.randn(20, 7, generator=generator) * 3
    permutation = torch.randperm(7, generator=generator)

    permuted_scores = score(logits[:, permutation])
    torch.testing.assert_close(permuted_scores, score(logits), rtol=1e-6, atol=0.0)


@pytest.mark.parametrize("score", SCORES)
def test_uncertain_row_scores_higher(score):
    uncertain = [0.0, 0.0, 0.0]
    hesitant = [1.0, 0.5, 0.0]
    confident = [5.0, 0.0, 0.0]

    scores = score(torch.tensor([confident, uncertain, hesitant]))

    assert scores[1] > scores[2]
    assert scores[2] > scores[0]


@pytest.mark.parametrize("score", SCORES)
def test_scores_within_range(score):
    generator = torch.Generator().manual_seed(2)
    num_classes = 5
    # Rows with logit scales from near-uniform (0.1) to near-certain (50).
    row_scales = torch.tensor([0.1, 1.0, 10.0, 50.0]).repeat(500)[:, None]
    logits = torch.randn(2000, num_classes, generator=generator) * row_scales
    upper_bounds = {
        entropy: math.log(num_classes),
        margin: 1.0,
        least_confidence: 1 - 1 / num_classes,
    }
    upper = upper_bounds[score]

    scores = score(logits)

    assert (scores >= 0).all()
    assert (scores <= upper * (1 + 1e-6)).all()


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
    logits = torch.tensor([[0.5, -1.0, 2.0], [0.0, 0.0, 0.0]], dtype=input_dtype, device=device)

    scores = score(logits)

    assert scores.dtype == output_dtype
    assert scores.device == logits.device
    assert scores.shape == (2,)


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize(("input_dtype", "output_dtype"), DTYPES)
def test_empty_batch_returns_empty(score, input_dtype, output_dtype):
    scores = score(torch.empty(0, 4, dtype=input_dtype))

    assert scores.shape == (0,)
    assert scores.dtype == output_dtype


@pytest.mark.parametrize("score", SCORES)
def test_inference_mode_supported(score):
    logits = torch.tensor([[0.5, -1.0, 2.0], [0.0, -INF, 1.0]])
    expected = score(logits)

    with torch.inference_mode():
        scores = score(logits.clone())

    assert torch.equal(scores, expected)


@pytest.mark.parametrize("score", SCORES)
def test_input_left_unchanged(score):
    logits = torch.tensor([[0.5, -1.0, 2.0], [3.0, -INF, 1.0]])
    original = logits.clone()

    score(logits)

    assert torch.equal(logits, original)


# --- invalid input ---------------------------------------------------------------


# (case id, logits, exception type, regex that the message must match)
INVALID = [
    (
        "list",
        [[0.0, 1.0]],
        TypeError,
        r"Invalid `logits`: expected a torch\.Tensor of shape \(N, C\), received list\. Convert",
    ),
    (
        "int64",
        torch.tensor([[0, 1]]),
        TypeError,
        r"expected a floating dtype .*, received torch\.int64\. .*logits\.float\(\)",
    ),
    (
        "bool",
        torch.tensor([[True, False]]),
        TypeError,
        r"received torch\.bool",
    ),
    (
        "1-D",
        torch.zeros(3),
        ValueError,
        r"expected a 2-D tensor of shape \(N, C\), received shape \(3,\)\. Reshape it to \(N, C\)",
    ),
    (
        "3-D",
        torch.zeros(2, 4, 3),
        ValueError,
        r"received shape \(2, 4, 3\)\..*"
        r"\(N, T, C\) need a Bayesian acquisition function, or average",
    ),
    (
        "C=0",
        torch.zeros(3, 0),
        ValueError,
        r"expected a last \(class\) dim of size C >= [12], received shape \(3, 0\)",
    ),
    (
        "NaN",
        torch.tensor([[0.0, 1.0], [math.nan, 0.0], [0.0, 0.0]]),
        ValueError,
        r"received NaN or \+inf in 1 of 3 rows \(first at row 1\)",
    ),
    (
        "+inf",
        torch.tensor([[0.0, 1.0], [0.0, 0.0], [INF, 0.0], [0.0, INF]]),
        ValueError,
        r"received NaN or \+inf in 2 of 4 rows \(first at row 2\)\. Check the model",
    ),
    (
        "all -inf",
        torch.tensor([[0.0, 1.0], [-INF, -INF]]),
        ValueError,
        r"expected at least one logit above -inf in every row, "
        r"received all logits -inf in 1 of 2 rows \(first at row 1\)",
    ),
]


@pytest.mark.parametrize("score", SCORES)
@pytest.mark.parametrize(
    ("case", "logits", "error", "message"), INVALID, ids=[case[0] for case in INVALID]
)
def test_invalid_logits_raise(score, case, logits, error, message):
    with pytest.raises(error, match=message):
        score(logits)


@pytest.mark.parametrize("num_classes", [0, 1])
def test_margin_needs_two_classes(num_classes):
    message = rf"expected a last \(class\) dim of size C >= 2, received shape \(3, {num_classes}\)"
    with pytest.raises(ValueError, match=message):
        margin(torch.zeros(3, num_classes))


# --- check_logits with other layouts ---------------------------------------------


def test_check_logits_three_dims():
    logits = torch.zeros(2, 5, 3, dtype=torch.bfloat16)

    checked = check_logits(logits, ndim=3, layout="(N, T, C)")

    assert checked.dtype == torch.float32
    assert checked.shape == (2, 5, 3)


def test_check_logits_three_dims_errors():
    impossible_sample = torch.zeros(3, 4, 2)
    impossible_sample[2, 1] = -INF

    shape_message = r"expected a 3-D tensor of shape \(N, T, C\), received shape \(3, 2\)"
    row_message = r"Invalid `mc_logits`: .*all logits -inf in 1 of 3 rows \(first at row 2\)"

    with pytest.raises(ValueError, match=shape_message):
        check_logits(torch.zeros(3, 2), "mc_logits", ndim=3, layout="(N, T, C)")
    with pytest.raises(ValueError, match=row_message):
        check_logits(impossible_sample, "mc_logits", ndim=3, layout="(N, T, C)")


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (torch.tensor([[1.0, -2.0], [0.5, 3.0]]), True),
        (torch.empty(0, 3), True),
        # The sum overflows to +inf although every value is finite.
        (torch.full((4, 3), 3e38), True),
        (torch.tensor([[3e38, -3e38, 3e38]]), True),
        (torch.tensor([[1.0, float("nan")]]), False),
        (torch.tensor([[1.0, float("inf")]]), False),
        (torch.tensor([[float("-inf"), 1.0]]), False),
        (torch.tensor([[float("inf"), float("-inf")]]), False),
    ],
)
def test_all_finite(values, expected):
    assert all_finite(values) is expected
    assert all_finite(values.double()) is expected


def test_logits_with_an_overflowing_sum_are_scored():
    logits = torch.full((3, 4), 3e38)
    logits[:, 0] = 3.1e38

    assert torch.isfinite(entropy(logits)).all()
