"""Mean curves, AUBC and labels to a target on hand-computed learning curves."""

from __future__ import annotations

import math

import pandas as pd
import pytest

from energizer.errors import InvalidArgumentError
from energizer.reporting import (
    area_under_budget_curve,
    aubc_by_seed,
    labels_to_reach,
    mean_curves,
    reference_from_column,
    summarize,
    target_column,
)


def rounds_table(curves: dict[tuple[str, int], list[float]], counts: list[int]) -> pd.DataFrame:
    """Build a rounds table from ``{(strategy, seed): accuracies}``, all at the labelled ``counts``."""
    rows = []
    for (strategy, seed), accuracies in curves.items():
        for index, (count, accuracy) in enumerate(zip(counts, accuracies)):
            rows.append(
                {"strategy": strategy, "seed": seed, "round": index, "num_labelled": count, "test_accuracy": accuracy}
            )
    return pd.DataFrame(rows)


# Two strategies over two seeds, at 10, 20 and 30 labels.
CURVES = {
    ("entropy", 0): [0.5, 0.7, 0.9],
    ("entropy", 1): [0.7, 0.9, 0.9],
    ("random", 0): [0.5, 0.6, 0.7],
    ("random", 1): [0.7, 0.8, 0.7],
}
COUNTS = [10, 20, 30]


@pytest.mark.parametrize(
    ("counts", "values", "expected"),
    [
        ([10, 20, 30], [0.8, 0.8, 0.8], 0.8),
        ([10, 20, 30], [0.5, 0.7, 0.9], 0.7),  # (6 + 8) / 20
        ([0, 10, 40], [0.0, 1.0, 1.0], 0.875),  # (5 + 30) / 40
        ([40, 0, 10], [1.0, 0.0, 1.0], 0.875),  # order of the points does not matter
        ([5, 7], [0.2, 0.4], 0.3),
    ],
)
def test_aubc_hand_computed(counts, values, expected):
    assert area_under_budget_curve(counts, values) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("counts", "values", "message"),
    [
        ([10], [0.5], "at least two points"),
        ([10, 10], [0.5, 0.6], "distinct labelled counts"),
        ([10, 20], [0.5], "one value per labelled count"),
        ([10, 20], [0.5, float("nan")], "finite numbers"),
    ],
)
def test_aubc_rejects_bad_curves(counts, values, message):
    with pytest.raises(InvalidArgumentError, match=message):
        area_under_budget_curve(counts, values)


def test_mean_curves_mean_and_std():
    curves = mean_curves(rounds_table(CURVES, COUNTS))

    entropy = curves[curves["strategy"] == "entropy"]
    assert entropy["round"].tolist() == [0, 1, 2]
    assert entropy["num_labelled"].tolist() == COUNTS
    assert entropy["seeds"].tolist() == [2, 2, 2]
    assert entropy["mean"].tolist() == pytest.approx([0.6, 0.8, 0.9])
    # Sample standard deviation of two values a and b: |a - b| / sqrt(2).
    assert entropy["std"].tolist() == pytest.approx([0.2 / math.sqrt(2), 0.2 / math.sqrt(2), 0.0])


def test_mean_curves_keep_strategy_order():
    table = rounds_table({("zeta", 0): [0.1, 0.2], ("alpha", 0): [0.3, 0.4]}, [1, 2])

    assert mean_curves(table.iloc[::-1])["strategy"].tolist() == ["alpha", "alpha", "zeta", "zeta"]
    assert mean_curves(table)["strategy"].tolist() == ["zeta", "zeta", "alpha", "alpha"]


def test_mean_curves_single_seed_std_is_nan():
    curves = mean_curves(rounds_table({("random", 0): [0.5, 0.6]}, [10, 20]))

    assert curves["std"].isna().all()


def test_mean_curves_reject_unequal_budgets():
    table = rounds_table(CURVES, COUNTS)
    table.loc[(table["strategy"] == "random") & (table["seed"] == 1) & (table["round"] == 2), "num_labelled"] = 31

    with pytest.raises(InvalidArgumentError, match=r"\[30, 31\] in round 2 of 'random'"):
        mean_curves(table)


def test_aubc_by_seed_values():
    areas = aubc_by_seed(rounds_table(CURVES, COUNTS))

    by_key = {(row.strategy, row.seed): row.aubc for row in areas.itertuples()}
    assert by_key[("entropy", 0)] == pytest.approx(0.7)
    assert by_key[("entropy", 1)] == pytest.approx(0.85)  # (8 + 9) / 20
    assert by_key[("random", 0)] == pytest.approx(0.6)  # (5.5 + 6.5) / 20
    assert by_key[("random", 1)] == pytest.approx(0.75)  # (7.5 + 7.5) / 20
    assert set(areas["first_labelled"]) == {10}
    assert set(areas["last_labelled"]) == {30}


def test_aubc_by_seed_skips_single_round():
    table = rounds_table({("random", 0): [0.5, 0.6], ("random", 1): [0.7]}, [10, 20])

    assert aubc_by_seed(table)["seed"].tolist() == [0]


def test_labels_to_reach_first_count():
    curve = pd.DataFrame({"num_labelled": [10, 20, 30, 40], "mean": [0.5, 0.9, 0.85, 0.95]})

    assert labels_to_reach(curve, 0.9) == 20
    assert labels_to_reach(curve, 0.95) == 40
    assert labels_to_reach(curve, 0.96) is None


def test_summarize_columns_and_values():
    summary = summarize(rounds_table(CURVES, COUNTS), reference=1.0)

    assert summary["strategy"].tolist() == ["entropy", "random"]
    entropy = summary.iloc[0]
    assert entropy["seeds"] == 2
    assert entropy["aubc_mean"] == pytest.approx(0.775)
    assert entropy["aubc_std"] == pytest.approx(0.15 / math.sqrt(2))
    assert entropy["first_labelled"] == 10
    assert entropy["last_labelled"] == 30
    assert entropy["final_labelled"] == 30
    assert entropy["final_mean"] == pytest.approx(0.9)
    assert entropy["final_std"] == pytest.approx(0.0)


def test_summarize_labels_to_targets():
    # Seed-mean curves: entropy 0.6, 0.8, 0.9; random 0.6, 0.7, 0.7.
    summary = summarize(rounds_table(CURVES, COUNTS), reference=0.9, targets=(0.75, 0.95, 1.0))

    entropy, random = summary.iloc[0], summary.iloc[1]
    assert target_column(0.75) == "labels_to_75pct"
    assert entropy["labels_to_75pct"] == 20  # target 0.675
    assert entropy["labels_to_95pct"] == 30  # target 0.855
    assert entropy["labels_to_100pct"] == 30  # target 0.9, reached exactly
    assert random["labels_to_75pct"] == 20
    assert pd.isna(random["labels_to_95pct"])
    assert pd.isna(random["labels_to_100pct"])


def test_summarize_without_reference():
    summary = summarize(rounds_table(CURVES, COUNTS))

    assert summary["labels_to_95pct"].isna().all()
    assert summary["labels_to_99pct"].isna().all()


def test_summarize_final_uses_each_seeds_last_round():
    # Seed 1 stopped a round early, so its final accuracy is the one at 20 labels.
    table = rounds_table({("random", 0): [0.5, 0.6, 0.7], ("random", 1): [0.5, 0.9]}, COUNTS)

    summary = summarize(table)

    assert summary.loc[0, "final_mean"] == pytest.approx(0.8)
    assert summary.loc[0, "final_labelled"] == 30


def test_summarize_ignores_rows_without_metric():
    table = rounds_table(CURVES, COUNTS)
    table.loc[len(table)] = {"strategy": "entropy", "seed": 0, "round": 3, "num_labelled": 40, "test_accuracy": None}

    summary = summarize(table)

    assert summary.loc[0, "last_labelled"] == 30


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"reference": 0.0}, "a finite number > 0"),
        ({"reference": float("inf")}, "a finite number > 0"),
        ({"targets": (0.95, 1.5)}, r"fractions in \(0, 1\]"),
        ({"metric": "val_accuracy"}, "no column val_accuracy"),
    ],
)
def test_summarize_rejects_bad_arguments(arguments, message):
    with pytest.raises(InvalidArgumentError, match=message):
        summarize(rounds_table(CURVES, COUNTS), **arguments)


def test_summarize_rejects_repeated_rounds():
    table = rounds_table(CURVES, COUNTS)
    table = pd.concat([table, table.iloc[[0]]], ignore_index=True)

    with pytest.raises(InvalidArgumentError, match="several rows for strategy 'entropy', seed 0, round 0"):
        summarize(table)


def test_summarize_rejects_table_without_values():
    table = rounds_table(CURVES, COUNTS)
    table["test_accuracy"] = float("nan")

    with pytest.raises(InvalidArgumentError, match="at least one row with a test_accuracy value"):
        summarize(table)


def test_reference_from_column_mean_over_seeds():
    table = rounds_table(CURVES, COUNTS)
    table["reference_accuracy"] = table["seed"].map({0: 0.96, 1: 0.98})

    assert reference_from_column(table) == pytest.approx(0.97)


def test_reference_from_column_missing():
    table = rounds_table(CURVES, COUNTS)

    assert reference_from_column(table) is None
    table["reference_accuracy"] = float("nan")
    assert reference_from_column(table) is None


def test_reference_from_column_rejects_two_values():
    table = rounds_table(CURVES, COUNTS)
    table["reference_accuracy"] = 0.9
    table.loc[0, "reference_accuracy"] = 0.8

    with pytest.raises(InvalidArgumentError, match="one value per seed"):
        reference_from_column(table)
