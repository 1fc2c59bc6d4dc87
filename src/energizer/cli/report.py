"""``energizer report``: summary table and plot of one or more ``rounds.csv`` files."""

from __future__ import annotations

import argparse
import csv
import logging
import math
import os
from pathlib import Path
from typing import Any

import pandas as pd

from energizer.errors import InvalidArgumentError
from energizer.reporting import REQUIRED_COLUMNS, reference_from_column, summarize

__all__ = ["add_parser", "run"]

log = logging.getLogger(__name__)

ROUNDS_FILE = "rounds.csv"
SUMMARY_FILE = "summary.csv"
PLOT_FILE = "learning_curves.png"
# Words that mark a metric where lower is better, which the summary cannot rank.
LOWER_IS_BETTER = ("loss", "error", "seconds", "time", "mae", "mse", "ece", "nll", "perplexity")


def add_parser(commands: Any) -> None:
    """Register ``report`` and its options on the ``energizer`` subcommands."""
    parser = commands.add_parser(
        "report",
        help="summarise the learning curves of one or more rounds.csv files",
        description=(
            "Read rounds.csv files (one row per strategy, seed and round, as energizer simulate "
            "writes them), print per strategy the normalised area under the budget curve (AUBC), "
            "the labels needed to reach 95%% and 99%% of a reference accuracy and the final "
            f"accuracy, each as mean ± standard deviation over seeds, and write {SUMMARY_FILE} and "
            f"{PLOT_FILE} to --output."
        ),
    )
    parser.add_argument(
        "runs",
        nargs="+",
        type=Path,
        metavar="RUN_DIR",
        help=f"a folder that holds {ROUNDS_FILE}, or the path of a rounds CSV file",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help=f"folder for {SUMMARY_FILE} and {PLOT_FILE} (default: the folder of the first RUN_DIR)",
    )
    parser.add_argument(
        "--reference-accuracy",
        default=None,
        metavar="X",
        help="the metric of a model trained on the whole pool: a number, or a CSV file with a row per "
        "seed and a column named as --metric, whose mean is used (default: the mean over seeds of a "
        "reference_accuracy column of the rounds, if any)",
    )
    parser.add_argument(
        "--metric",
        default="test_accuracy",
        help="column to summarise; higher must be better (default: test_accuracy)",
    )
    parser.add_argument(
        "--strategies",
        default=None,
        help="comma-separated strategies to report, in this order (default: every strategy, in file order)",
    )
    parser.add_argument("--no-plot", action="store_true", help=f"write no {PLOT_FILE}")
    parser.set_defaults(run=run, command_parser=parser)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Summarise the runs that ``args`` names; return the exit status."""
    if any(word in args.metric.lower() for word in LOWER_IS_BETTER):
        parser.error(
            f"argument --metric: {args.metric!r} looks like a metric where lower is better, while the AUBC "
            "and the labels to target assume higher is better; pass an accuracy-like column such as test_accuracy"
        )
    paths = [_rounds_path(path, parser) for path in args.runs]
    rounds = _read_rounds(paths, args.metric, parser)
    if args.strategies is not None:
        rounds = _select_strategies(rounds, args.strategies, parser)
    reference = _reference(args, rounds, parser)
    try:
        summary = summarize(rounds, metric=args.metric, reference=reference)
    except InvalidArgumentError as error:
        parser.error(f"argument RUN_DIR: cannot summarise {', '.join(map(str, paths))}: {error}")

    output = args.output if args.output is not None else paths[0].parent
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"argument --output: cannot create {str(output)!r}: {error.strerror}")
    _write_summary(summary, output / SUMMARY_FILE)

    print(format_summary(summary, args.metric, reference))
    written = [output / SUMMARY_FILE]
    if not args.no_plot:
        try:
            from energizer.plotting import plot_learning_curves

            plot_learning_curves(rounds, output / PLOT_FILE, metric=args.metric, reference=reference)
            written.append(output / PLOT_FILE)
        except ImportError as error:
            log.warning("Skipped %s: %s", PLOT_FILE, error)
    _warn_on_unequal_ranges(summary)
    _warn_on_missing_areas(summary)
    _warn_on_unequal_seeds(rounds, args.metric)
    print(f"Wrote {' and '.join(map(str, written))}")
    return 0


def format_summary(summary: pd.DataFrame, metric: str, reference: float | None) -> str:
    """Return the summary as an aligned text table, with ``mean ± std`` cells."""
    targets = [column for column in summary.columns if column.startswith("labels_to_")]
    header = ["strategy", "seeds", "labelled", "AUBC", *[_target_title(column) for column in targets], f"final {metric}"]
    lines = []
    for row in summary.itertuples(index=False):
        values = row._asdict()
        cells = [
            str(values["strategy"]),
            str(values["seeds"]),
            _range(values["first_labelled"], values["last_labelled"]),
            _mean_std(values["aubc_mean"], values["aubc_std"]),
        ]
        for column in targets:
            cells.append(_labels(values[column], reference))
        cells.append(_mean_std(values["final_mean"], values["final_std"]))
        lines.append(cells)
    widths = [max(len(cell) for cell in column) for column in zip(header, *lines)]
    text = [_join(header, widths), _join(["-" * width for width in widths], widths)]
    text += [_join(cells, widths) for cells in lines]
    if reference is not None:
        text.append(f"reference {metric} (whole pool): {reference:.4f}")
    else:
        text.append("no reference accuracy: pass --reference-accuracy to get the labels to reach 95% and 99% of it")
    return "\n".join(text)


def _rounds_path(path: Path, parser: argparse.ArgumentParser) -> Path:
    candidate = path / ROUNDS_FILE if path.is_dir() else path
    if not candidate.is_file():
        where = f"{str(path)!r} has no {ROUNDS_FILE}" if path.is_dir() else f"{str(path)!r} does not exist"
        parser.error(
            f"argument RUN_DIR: {where}; pass the --output-dir of energizer simulate or the path of a rounds CSV file"
        )
    return candidate


def _read_rounds(paths: list[Path], metric: str, parser: argparse.ArgumentParser) -> pd.DataFrame:
    frames = []
    for path in paths:
        try:
            frame = pd.read_csv(path)
        except pd.errors.EmptyDataError:
            parser.error(f"argument RUN_DIR: {str(path)!r} is empty; run energizer simulate to fill it")
        except (pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
            parser.error(f"argument RUN_DIR: cannot read {str(path)!r} as CSV: {error}")
        _check_last_line(path, parser)
        missing = [column for column in (*REQUIRED_COLUMNS, metric) if column not in frame.columns]
        if missing:
            fix = "pass --metric with one of its columns" if missing == [metric] else "pass a rounds.csv of energizer simulate"
            parser.error(
                f"argument RUN_DIR: {str(path)!r} has no column {', '.join(missing)} "
                f"(it has {', '.join(map(str, frame.columns))}); {fix}"
            )
        for column in (*REQUIRED_COLUMNS[1:], metric):
            frame[column] = _numeric_column(frame, column, path, parser)
        if frame[metric].notna().sum() == 0:
            parser.error(
                f"argument RUN_DIR: {str(path)!r} has no row with a {metric} value; "
                "run at least one round with a test set"
            )
        missing_metric = frame[metric].isna()
        if missing_metric.any():
            log.warning(
                "%d rows of %s have no %s value (first at line %d); the summary leaves them out",
                int(missing_metric.sum()),
                path,
                metric,
                int(missing_metric.to_numpy().nonzero()[0][0]) + 2,
            )
        incomplete = frame[list(REQUIRED_COLUMNS)].isna().any(axis=1)
        if incomplete.any():
            # Line numbers count the header as line 1.
            line = int(incomplete.to_numpy().nonzero()[0][0]) + 2
            parser.error(
                f"argument RUN_DIR: line {line} of {str(path)!r} has no value in one of the columns "
                f"{', '.join(REQUIRED_COLUMNS)}; fix or delete that line"
            )
        frames.append(frame)
    rounds = pd.concat(frames, ignore_index=True)
    repeated = rounds.duplicated(["strategy", "seed", "round"])
    if repeated.any():
        first = rounds.loc[repeated].iloc[0]
        parser.error(
            f"argument RUN_DIR: strategy {first['strategy']!r}, seed {first['seed']}, round {first['round']} "
            f"appears more than once in {', '.join(map(str, paths))}; pass each run once"
        )
    return rounds


def _select_strategies(rounds: pd.DataFrame, text: str, parser: argparse.ArgumentParser) -> pd.DataFrame:
    names = [name.strip() for name in text.split(",") if name.strip()]
    available = list(rounds["strategy"].astype(str).unique())
    unknown = [name for name in names if name not in available]
    if unknown or not names:
        parser.error(
            f"argument --strategies: no rows for {', '.join(map(repr, unknown)) or 'an empty list'}; "
            f"choose from {', '.join(available)}"
        )
    selected = rounds[rounds["strategy"].astype(str).isin(names)].copy()
    position = {name: index for index, name in enumerate(names)}
    selected["position"] = selected["strategy"].astype(str).map(position)
    return selected.sort_values("position", kind="stable").drop(columns="position").reset_index(drop=True)


def _reference(args: argparse.Namespace, rounds: pd.DataFrame, parser: argparse.ArgumentParser) -> float | None:
    text = args.reference_accuracy
    if text is None:
        try:
            return reference_from_column(rounds)
        except InvalidArgumentError as error:
            parser.error(f"argument RUN_DIR: {error}")
    try:
        value = float(text)
    except ValueError:
        value = _reference_from_file(Path(text), args.metric, parser)
    if not 0 < value < math.inf:
        parser.error(f"argument --reference-accuracy: expected a finite number > 0, received {text!r}")
    values = rounds[args.metric].dropna()
    if value > 1 and values.between(0, 1).all():
        hint = f", e.g. {value / 100:g} for {value:g}%" if 10 <= value <= 100 else ""
        parser.error(
            f"argument --reference-accuracy: {value:g} is above 1 while every {args.metric} value of the runs "
            f"lies in [0, 1]; pass the reference on the same scale, as a fraction{hint}"
        )
    return value


def _as_numbers(column: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Return ``column`` as numbers, and a mask of the cells that hold text or an infinite value."""
    values = pd.to_numeric(column, errors="coerce")
    invalid = (values.isna() & column.notna()) | values.isin([math.inf, -math.inf])
    return values, invalid


def _numeric_column(frame: pd.DataFrame, column: str, path: Path, parser: argparse.ArgumentParser) -> pd.Series:
    """Return ``frame[column]`` as numbers, rejecting text and infinite values with their line."""
    values, bad = _as_numbers(frame[column])
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        value = frame[column].iloc[row]
        if isinstance(value, str) and value in frame.columns:
            fix = (
                "a header repeated inside the file, as joining two rounds.csv files with cat leaves it, "
                "does this: pass each file as its own RUN_DIR instead"
            )
        else:
            fix = "fix or delete that line"
        # Line numbers count the header as line 1.
        parser.error(
            f"argument RUN_DIR: line {row + 2} of {str(path)!r} has {str(value)!r} in column {column}, "
            f"where a finite number is expected; {fix}"
        )
    return values


def _check_last_line(path: Path, parser: argparse.ArgumentParser) -> None:
    """Reject a file whose last line is incomplete, as a run stopped while writing leaves it."""
    with path.open("rb") as file:
        lines = file.read().splitlines(keepends=True)
    lines = [line for line in lines if line.strip()]
    if len(lines) < 2 or lines[-1].endswith((b"\n", b"\r")):
        return
    header, last = (next(csv.reader([line.decode("utf-8", "replace")])) for line in (lines[0], lines[-1]))
    if len(last) < len(header):
        parser.error(
            f"argument RUN_DIR: the last line of {str(path)!r} is incomplete ({len(last)} of {len(header)} fields, "
            "no line end), as a run stopped while writing leaves it; delete that line, or finish the run "
            "with energizer simulate --resume"
        )


def _reference_from_file(path: Path, metric: str, parser: argparse.ArgumentParser) -> float:
    if not path.is_file():
        parser.error(
            f"argument --reference-accuracy: {str(path)!r} is neither a number nor a file; "
            f"pass e.g. 0.97, or a CSV file with a {metric} column"
        )
    try:
        frame = pd.read_csv(path)
    except (pd.errors.EmptyDataError, pd.errors.ParserError, UnicodeDecodeError, OSError) as error:
        parser.error(f"argument --reference-accuracy: cannot read {str(path)!r} as CSV: {error}")
    if metric not in frame.columns or frame[metric].dropna().empty:
        parser.error(
            f"argument --reference-accuracy: {str(path)!r} has no {metric} values; "
            f"write one row per seed with a {metric} column"
        )
    if "round" in frame.columns or ("seed" in frame.columns and frame["seed"].duplicated().any()):
        parser.error(
            f"argument --reference-accuracy: {str(path)!r} has several rows per seed, like a rounds table; "
            f"pass a file with one row per seed and the {metric} of training on the whole pool"
        )
    values, bad = _as_numbers(frame[metric])
    if bad.any():
        parser.error(
            f"argument --reference-accuracy: line {int(bad.to_numpy().nonzero()[0][0]) + 2} of {str(path)!r} has "
            f"{str(frame[metric][bad].iloc[0])!r} in column {metric}, where a finite number is expected; fix that line"
        )
    return float(values.dropna().mean())


def _write_summary(summary: pd.DataFrame, path: Path) -> None:
    # Written aside, then renamed, so a reader never sees half a file.
    temporary = path.with_suffix(".csv.tmp")
    summary.to_csv(temporary, index=False)
    os.replace(temporary, path)


def _warn_on_unequal_ranges(summary: pd.DataFrame) -> None:
    ranges = summary[["first_labelled", "last_labelled"]].dropna().drop_duplicates()
    if len(ranges) > 1:
        log.warning(
            "The strategies' curves cover different labelled ranges, so their AUBCs are not comparable: %s",
            ", ".join(f"{row.strategy} {row.first_labelled}-{row.last_labelled}" for row in summary.itertuples()),
        )


def _warn_on_unequal_seeds(rounds: pd.DataFrame, metric: str) -> None:
    last = rounds.dropna(subset=[metric]).groupby(["strategy", "seed"], sort=False)["num_labelled"].max()
    for strategy, ends in last.groupby(level="strategy", sort=False):
        if ends.nunique() > 1:
            endings = ", ".join(f"seed {seed} at {int(count)}" for (_, seed), count in ends.items())
            log.warning(
                "The seeds of %s end at different labelled counts (%s), so its AUBC and final %s mix "
                "different budgets; finish the shorter runs (energizer simulate --resume) or leave them out",
                strategy,
                endings,
                metric,
            )


def _warn_on_missing_areas(summary: pd.DataFrame) -> None:
    short = [str(row.strategy) for row in summary.itertuples() if row.seeds == 0]
    if short:
        log.warning(
            "No seed of %s has two rounds or more, so the table shows no AUBC for it (seeds 0); "
            "an area needs at least two points of the curve: run more rounds",
            ", ".join(short),
        )


def _target_title(column: str) -> str:
    return "labels to " + column.removeprefix("labels_to_").replace("pct", "%")


def _mean_std(mean: float, std: float) -> str:
    if pd.isna(mean):
        return "n/a"
    if pd.isna(std):
        return f"{mean:.4f}"
    return f"{mean:.4f} ± {std:.4f}"


def _labels(value: Any, reference: float | None) -> str:
    if reference is None:
        return "n/a"
    return "not reached" if pd.isna(value) else str(int(value))


def _range(first: Any, last: Any) -> str:
    return "n/a" if pd.isna(first) else f"{int(first)}-{int(last)}"


def _join(cells: list[str], widths: list[int]) -> str:
    first = cells[0].ljust(widths[0])
    rest = [cell.rjust(width) for cell, width in zip(cells[1:], widths[1:])]
    return "  ".join([first, *rest]).rstrip()
