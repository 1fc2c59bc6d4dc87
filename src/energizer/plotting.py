"""Learning-curve plots: a test metric against the number of labelled items."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from energizer.errors import InvalidArgumentError

__all__ = ["plot_learning_curves"]


def plot_learning_curves(rounds: pd.DataFrame, path: str | Path, metric: str = "test_accuracy") -> None:
    """Save a plot of ``metric`` against ``num_labelled``, one line per strategy.

    With several seeds per strategy, the line is the mean over seeds and a
    band shows one standard deviation either side.

    Args:
        rounds: Rows with the columns ``strategy``, ``num_labelled`` and ``metric``.
        path: Image file to write; the suffix picks the format (``.png``, ``.svg``, ...).
        metric: Column to plot.

    Raises:
        ImportError: When matplotlib is not installed.
        InvalidArgumentError: When ``metric`` is not a column of ``rounds``.
    """
    if metric not in rounds.columns:
        raise InvalidArgumentError(
            "metric",
            f"a column of the results ({', '.join(map(str, rounds.columns))})",
            metric,
            "Plot a metric that the model logs in test_step.",
        )
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as error:
        raise ImportError("Plotting needs matplotlib: pip install 'energizer[plot]'.") from error

    figure, axes = plt.subplots(figsize=(7, 4.5))
    for strategy, rows in rounds.groupby("strategy", sort=False):
        curve = rows.groupby("num_labelled")[metric].agg(["mean", "std"]).reset_index()
        axes.plot(curve["num_labelled"], curve["mean"], marker="o", markersize=3, label=str(strategy))
        spread = curve["std"].fillna(0.0)
        axes.fill_between(curve["num_labelled"], curve["mean"] - spread, curve["mean"] + spread, alpha=0.2)
    axes.set_xlabel("labelled items")
    axes.set_ylabel(metric.replace("_", " "))
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
