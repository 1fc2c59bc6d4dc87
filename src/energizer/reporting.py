"""Summaries of learning curves over several seeds: mean curves, AUBC and labels to a target.

The functions take a rounds table with one row per strategy, seed and round,
as ``energizer simulate`` writes to ``rounds.csv``: the columns ``strategy``,
``seed``, ``round``, ``num_labelled`` and a metric column (``test_accuracy``
by default). Higher metric values must mean better models.

Standard deviations are sample standard deviations over seeds (``ddof=1``),
so they are NaN for a strategy with a single seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from numbers import Real

import numpy as np
import pandas as pd

from energizer.errors import InvalidArgumentError

__all__ = [
    "DEFAULT_TARGETS",
    "REQUIRED_COLUMNS",
    "area_under_budget_curve",
    "aubc_by_seed",
    "labels_to_reach",
    "mean_curves",
    "reference_from_column",
    "summarize",
    "target_column",
]

REQUIRED_COLUMNS = ("strategy", "seed", "round", "num_labelled")
"""Columns that every rounds table needs, besides the metric."""

DEFAULT_TARGETS = (0.95, 0.99)
"""Fractions of the reference metric that :func:`summarize` reports the labels to reach."""


def area_under_budget_curve(num_labelled: Sequence[float], values: Sequence[float]) -> float:
    """Compute the normalised area under one budget curve (AUBC).

    The curve is ``values[i]`` at ``num_labelled[i]`` labelled items. The area
    is the trapezoid rule over the labelled counts, divided by the labelled
    range ``max(num_labelled) - min(num_labelled)``, so a constant curve at
    ``a`` has an AUBC of ``a`` and an accuracy curve gives a number in
    ``[0, 1]``. With queries of one item, the ``AUBC`` function of Lu et
    al.'s benchmark code (github.com/ariapoy/active-learning-benchmark,
    ``src/utils.py``) is the same area, taken over the accuracies after each
    query, so it starts one label later than a curve that includes round 0.

    Args:
        num_labelled: Labelled counts of the points, in any order but distinct.
        values: Metric value at each count.

    Raises:
        InvalidArgumentError: When the lengths differ, a count repeats, fewer
            than two points are given, or a value is NaN or infinite.
    """
    counts = np.asarray(num_labelled, dtype=np.float64)
    scores = np.asarray(values, dtype=np.float64)
    if counts.shape != scores.shape or counts.ndim != 1:
        raise InvalidArgumentError(
            "values", f"one value per labelled count ({counts.size})", f"{scores.size} values",
            "Pass two sequences of the same length.",
        )
    if counts.size < 2:
        raise InvalidArgumentError(
            "num_labelled", "at least two points on the curve", f"{counts.size}",
            "Run at least two rounds; one round has no area.",
        )
    if np.unique(counts).size != counts.size:
        raise InvalidArgumentError(
            "num_labelled", "distinct labelled counts", counts.tolist(),
            "Pass one curve at a time; average over seeds after computing each seed's AUBC.",
        )
    if not (np.isfinite(counts).all() and np.isfinite(scores).all()):
        raise InvalidArgumentError(
            "values", "finite numbers", scores.tolist(),
            "Check the rounds for a missing or diverged metric, and leave those rounds out.",
        )
    order = np.argsort(counts)
    counts, scores = counts[order], scores[order]
    area = np.sum((scores[1:] + scores[:-1]) / 2 * np.diff(counts))
    return float(area / (counts[-1] - counts[0]))


def mean_curves(rounds: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """Average ``metric`` over seeds for each strategy and round.

    Returns:
        One row per strategy and round, in the order the strategies first
        appear and by round, with the columns ``strategy``, ``round``,
        ``num_labelled``, ``seeds`` (rows averaged), ``mean`` and ``std``.

    Raises:
        InvalidArgumentError: On a missing column, a repeated strategy, seed
            and round, or seeds of one strategy that labelled different
            counts in the same round.
    """
    frame = _checked(rounds, metric)
    grouped = frame.groupby(["strategy", "round"], sort=False)
    spread = grouped["num_labelled"].nunique()
    if (spread > 1).any():
        strategy, round_index = spread[spread > 1].index[0]
        counts = sorted(frame.loc[(frame["strategy"] == strategy) & (frame["round"] == round_index), "num_labelled"])
        raise InvalidArgumentError(
            "rounds",
            "the same num_labelled for every seed of a strategy in a round",
            f"{counts} in round {round_index} of {strategy!r}",
            "Compare runs with the same initial labels and query size.",
        )
    curves = grouped.agg(
        num_labelled=("num_labelled", "first"),
        seeds=(metric, "size"),
        mean=(metric, "mean"),
        std=(metric, "std"),
    ).reset_index()
    # Strategies keep the order of the table, and rounds go up within each one.
    order = {name: position for position, name in enumerate(frame["strategy"].unique())}
    curves["position"] = curves["strategy"].map(order)
    curves = curves.sort_values(["position", "round"]).drop(columns="position")
    return curves.reset_index(drop=True)


def aubc_by_seed(rounds: pd.DataFrame, metric: str = "test_accuracy") -> pd.DataFrame:
    """Compute :func:`area_under_budget_curve` of every strategy's curve for each seed.

    Returns:
        One row per strategy and seed with at least two rounds, with the
        columns ``strategy``, ``seed``, ``aubc``, ``first_labelled`` and
        ``last_labelled`` (the labelled range the area covers).
    """
    frame = _checked(rounds, metric)
    records = []
    for (strategy, seed), curve in frame.groupby(["strategy", "seed"], sort=False):
        if len(curve) < 2:
            continue
        records.append(
            {
                "strategy": strategy,
                "seed": seed,
                "aubc": area_under_budget_curve(curve["num_labelled"], curve[metric]),
                "first_labelled": int(curve["num_labelled"].min()),
                "last_labelled": int(curve["num_labelled"].max()),
            }
        )
    return pd.DataFrame(records, columns=["strategy", "seed", "aubc", "first_labelled", "last_labelled"])


def labels_to_reach(curve: pd.DataFrame, target: float) -> int | None:
    """Return the first ``num_labelled`` at which the seed-mean curve reaches ``target``.

    Args:
        curve: Rows of one strategy from :func:`mean_curves`.
        target: Metric value to reach, e.g. ``0.95 * reference_accuracy``.

    Returns:
        The smallest labelled count whose ``mean`` is at least ``target``,
        or ``None`` when no round reaches it.
    """
    reached = curve.loc[curve["mean"] >= target, "num_labelled"]
    return None if reached.empty else int(reached.min())


def reference_from_column(rounds: pd.DataFrame, column: str = "reference_accuracy") -> float | None:
    """Read the reference metric (training on the whole pool) from a column of ``rounds``.

    The column holds one value per seed, repeated on that seed's rows, and
    the reference is the mean over seeds. Rows where it is NaN are ignored.

    Returns:
        The mean over seeds, or ``None`` when the column is missing or empty.

    Raises:
        InvalidArgumentError: When one seed has different values.
    """
    if column not in rounds.columns:
        return None
    values = rounds[["seed", column]].dropna()
    if values.empty:
        return None
    per_seed = values.groupby("seed")[column]
    if (per_seed.nunique() > 1).any():
        seed = per_seed.nunique().idxmax()
        raise InvalidArgumentError(
            column, "one value per seed", sorted(values.loc[values["seed"] == seed, column].unique()),
            f"Write the same {column} on every row of seed {seed}.",
        )
    return float(per_seed.first().mean())


def target_column(fraction: float) -> str:
    """Return the summary column name of the labels needed to reach ``fraction`` of the reference."""
    return f"labels_to_{fraction * 100:g}pct"


def summarize(
    rounds: pd.DataFrame,
    metric: str = "test_accuracy",
    reference: float | None = None,
    targets: Sequence[float] = DEFAULT_TARGETS,
) -> pd.DataFrame:
    """Summarise each strategy's learning curves over seeds.

    Args:
        rounds: The rounds table (see the module docstring).
        metric: Column to summarise; higher must be better.
        reference: The metric of a model trained on the whole pool. Without
            it, the labels-to-target columns are empty.
        targets: Fractions of ``reference`` to reach, each in ``(0, 1]``.

    Returns:
        One row per strategy, in the order they first appear, with the columns
        ``strategy``, ``seeds`` (seeds with at least two rounds), ``aubc_mean``,
        ``aubc_std``, ``first_labelled``, ``last_labelled``, one
        :func:`target_column` per target (nullable integers, NA when the
        seed-mean curve never reaches it), ``final_labelled``, ``final_mean``
        and ``final_std`` (the metric at each seed's last round).

    Raises:
        InvalidArgumentError: On a bad table (see :func:`mean_curves`), a
            reference that is not a finite number > 0, or a target outside
            ``(0, 1]``.
    """
    if reference is not None and not (isinstance(reference, Real) and 0 < reference < float("inf")):
        raise InvalidArgumentError(
            "reference", "a finite number > 0", reference, "Pass the metric of a model trained on the whole pool.",
        )
    for fraction in targets:
        if not 0 < fraction <= 1:
            raise InvalidArgumentError("targets", "fractions in (0, 1]", list(targets), "Pass e.g. (0.95, 0.99).")
    curves = mean_curves(rounds, metric)
    areas = aubc_by_seed(rounds, metric)
    frame = _checked(rounds, metric)
    last_rows = frame.sort_values("round").groupby(["strategy", "seed"], sort=False).tail(1)
    records = []
    for strategy in curves["strategy"].unique():
        area = areas.loc[areas["strategy"] == strategy]
        last = last_rows.loc[last_rows["strategy"] == strategy]
        record = {
            "strategy": strategy,
            "seeds": len(area),
            "aubc_mean": area["aubc"].mean() if len(area) else np.nan,
            "aubc_std": area["aubc"].std() if len(area) else np.nan,
            "first_labelled": area["first_labelled"].min() if len(area) else pd.NA,
            "last_labelled": area["last_labelled"].max() if len(area) else pd.NA,
        }
        curve = curves.loc[curves["strategy"] == strategy]
        for fraction in targets:
            reached = None if reference is None else labels_to_reach(curve, fraction * reference)
            record[target_column(fraction)] = pd.NA if reached is None else reached
        record["final_labelled"] = int(last["num_labelled"].max())
        record["final_mean"] = last[metric].mean()
        record["final_std"] = last[metric].std()
        records.append(record)
    summary = pd.DataFrame(records)
    integer_columns = ["first_labelled", "last_labelled", *map(target_column, targets)]
    for column in integer_columns:
        summary[column] = summary[column].astype("Int64")
    return summary


def _checked(rounds: pd.DataFrame, metric: str) -> pd.DataFrame:
    """Return the rows of ``rounds`` that have ``metric``, after checking the columns and keys."""
    missing = [column for column in (*REQUIRED_COLUMNS, metric) if column not in rounds.columns]
    if missing:
        raise InvalidArgumentError(
            "rounds",
            f"the columns {', '.join((*REQUIRED_COLUMNS, metric))}",
            f"no column {', '.join(missing)} among {', '.join(map(str, rounds.columns))}",
            "Pass a rounds table as energizer simulate writes it, or choose another metric.",
        )
    frame = rounds.dropna(subset=[metric])
    if frame.empty:
        raise InvalidArgumentError(
            "rounds", f"at least one row with a {metric} value", "none", "Run at least one round with a test set.",
        )
    repeated = frame.duplicated(["strategy", "seed", "round"], keep=False)
    if repeated.any():
        first = frame.loc[repeated].iloc[0]
        raise InvalidArgumentError(
            "rounds",
            "one row per strategy, seed and round",
            f"several rows for strategy {first['strategy']!r}, seed {first['seed']}, round {first['round']}",
            "Give each run its own strategy name or seed.",
        )
    return frame
