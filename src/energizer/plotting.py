"""Learning-curve plots: a test metric against the number of labelled items."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from energizer.errors import InvalidArgumentError

__all__ = ["plot_learning_curves"]


def plot_learning_curves(
    rounds: pd.DataFrame,
    path: str | Path,
    metric: str = "test_accuracy",
    reference: float | None = None,
) -> None:
    """Save a plot of ``metric`` against ``num_labelled``, one line per strategy.

    With several seeds per strategy, the line is the mean over seeds and a
    band shows one sample standard deviation either side.

    Args:
        rounds: Rows with the columns ``strategy``, ``num_labelled`` and ``metric``.
        path: Image file to write; the suffix picks the format (``.png``, ``.svg``, ...).
        metric: Column to plot.
        reference: The metric of a model trained on the whole pool, drawn as
            a dashed horizontal line when given.

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

    strategies = list(rounds["strategy"].unique())
    # Beyond ten strategies the default colour cycle repeats, so lines also change style.
    colours = plt.get_cmap("tab20" if len(strategies) > 10 else "tab10").colors
    styles = ["-", "--", ":", "-."]
    # Many overlapping bands hide the lines, so each gets fainter as strategies are added.
    band_alpha = 0.15 if len(strategies) <= 10 else 0.06
    figure, axes = plt.subplots(figsize=(8, 5) if len(strategies) > 10 else (7, 4.5))
    for position, (strategy, rows) in enumerate(rounds.groupby("strategy", sort=False)):
        curve = rows.groupby("num_labelled")[metric].agg(["mean", "std"]).reset_index()
        colour = colours[position % len(colours)]
        style = styles[(position // len(colours)) % len(styles)]
        axes.plot(
            curve["num_labelled"], curve["mean"], style, color=colour, marker="o", markersize=3, label=str(strategy)
        )
        spread = curve["std"].fillna(0.0)
        axes.fill_between(
            curve["num_labelled"], curve["mean"] - spread, curve["mean"] + spread, color=colour, alpha=band_alpha
        )
    if reference is not None:
        axes.axhline(reference, color="black", linestyle="--", linewidth=1, label="whole pool")
    axes.set_xlabel("labelled items")
    axes.set_ylabel(metric.replace("_", " "))
    axes.grid(alpha=0.3)
    if len(strategies) > 10:
        axes.legend(fontsize=7, ncol=2, loc="lower right")
    else:
        axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
