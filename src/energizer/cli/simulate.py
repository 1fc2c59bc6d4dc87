"""``energizer simulate``: a research-mode experiment on a bundled data set.

Every strategy runs from the same initial labels, the same initial weights
and the same test split for a given seed, so their curves differ only by
what they query. With several seeds (``--seeds``), every strategy runs once
per seed.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import pandas as pd
import torch
from lightning.fabric.utilities.exceptions import MisconfigurationException
from lightning.fabric.utilities.warnings import PossibleUserWarning
from tqdm.auto import tqdm

import energizer
from energizer.datasets import BUNDLED_DATASETS, load_bundled
from energizer.cli.stream_mode import (
    DEFAULT_STREAM_STRATEGIES,
    STREAM_STRATEGIES,
    add_stream_arguments,
    check_mode_options,
    check_stream_options,
    run_stream_strategy,
)
from energizer.loop.run_dir import RunDirectory
from energizer.stream import StreamResults
from energizer.models import MLPClassifier
from energizer.query_strategies.registry import STRATEGIES, strategy_class
from energizer.results import RoundResult

__all__ = ["add_parser", "run"]

log = logging.getLogger(__name__)

FIRST_COLUMNS = ["strategy", "seed", "round", "num_labelled"]
DEFAULT_POOL_STRATEGIES = "random,entropy,margin,least-confidence"
# Folder of --output-dir that holds one run directory per strategy and seed.
RUNS = "runs"
# File of --output-dir with the options of the first run, which --resume must repeat.
OPTIONS_FILE = "options.json"
# Options that --resume may change: which runs to add, where output goes, what is printed, and
# --num-threads. --eval-batch-size is compared, because the batch size of pool scoring can change
# the scores in their last bits. --num-workers is compared too: on digits, one loader worker
# instead of none changed round 0's test accuracy (0.7852 against 0.7815) and the queried ids.
UNCOMPARED_OPTIONS = {
    "strategy", "seed", "seeds", "output_dir", "overwrite", "resume", "quiet", "num_threads",
    "run", "command_parser", "command",
}
TABLE_FORMAT = "{strategy:<18} {seed:>4} {round:>5} {num_labelled:>9} {accuracy:>9} {fit:>7} {query:>8}"


def add_parser(commands: Any) -> None:
    """Register ``simulate`` and its options on the ``energizer`` subcommands."""
    parser = commands.add_parser(
        "simulate",
        help="run an active learning experiment on a bundled data set",
        description=(
            "Run pool-based active learning in research mode: the data set's labels stay "
            "hidden until an item is queried. Writes OUTPUT_DIR/rounds.csv (one row per "
            "strategy, seed and round) and OUTPUT_DIR/learning_curve.png."
        ),
    )
    parser.add_argument(
        "--dataset", default="digits", choices=list(BUNDLED_DATASETS), help="bundled data set (default: digits)"
    )
    parser.add_argument(
        "--mode",
        choices=["pool", "stream"],
        default="pool",
        help="pool: query batches from the whole unlabelled pool each round; stream: decide on "
        "each item as it arrives, under --budget (default: pool)",
    )
    parser.add_argument(
        "--strategy",
        default=None,
        help=f"comma-separated strategies. Pool mode: {', '.join(STRATEGIES)} (default: "
        f"{DEFAULT_POOL_STRATEGIES}). Stream mode: {', '.join(STREAM_STRATEGIES)} (default: "
        f"{DEFAULT_STREAM_STRATEGIES})",
    )
    parser.add_argument("--query-size", type=_positive_int, default=20, help="items labelled per round (default: 20)")
    parser.add_argument(
        "--initial-labels", type=_positive_int, default=20, help="items labelled before round 0 (default: 20)"
    )
    parser.add_argument(
        "--initial-sampling",
        default="stratified",
        choices=["random", "stratified"],
        help="how the initial labels are drawn: stratified keeps the class shares (default: stratified)",
    )
    parser.add_argument(
        "--rounds", type=_positive_int, default=10, help="rounds per strategy, the first included (default: 10)"
    )
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seed", type=_seed, default=None, help="seed of the split, initial labels and weights (default: 0)"
    )
    seeds.add_argument(
        "--seeds",
        type=_seed_list,
        default=None,
        help="comma-separated seeds, e.g. 0,1,2,3,4: every strategy runs once per seed (default: --seed)",
    )
    parser.add_argument(
        "--max-steps",
        type=_positive_int,
        default=300,
        help="optimizer steps per round, whatever the number of labelled items (default: 300)",
    )
    parser.add_argument(
        "--max-epochs",
        type=_positive_int,
        default=None,
        help="epochs per round; with --max-steps, training stops at whichever comes first (default: no limit)",
    )
    parser.add_argument(
        "--subpool-size",
        type=_positive_int,
        default=None,
        help="pool items drawn at random each round and the only ones scored; at least --query-size "
        "(default: the whole pool)",
    )
    parser.add_argument("--batch-size", type=_positive_int, default=32, help="training batch size (default: 32)")
    parser.add_argument(
        "--eval-batch-size",
        type=_positive_int,
        default=256,
        help="batch size of pool scoring and testing (default: 256)",
    )
    parser.add_argument(
        "--num-workers",
        type=_count,
        default=0,
        help="data loading worker processes of every loader; 0 loads in the main process (default: 0)",
    )
    parser.add_argument(
        "--learning-rate", type=_positive_float, default=1e-3, help="Adam learning rate (default: 0.001)"
    )
    parser.add_argument(
        "--test-fraction", type=_fraction, default=0.3, help="share of the data held out for testing (default: 0.3)"
    )
    parser.add_argument("--accelerator", default="cpu", help="Lightning accelerator (default: cpu)")
    parser.add_argument(
        "--num-threads",
        type=_positive_int,
        default=1,
        help="CPU threads of PyTorch; the bundled models are too small to gain from more, and "
        "extra threads slow down on a busy machine (default: 1)",
    )
    parser.add_argument("--output-dir", type=Path, default=Path("out"), help="folder for the results (default: out)")
    parser.add_argument(
        "--overwrite", action="store_true", help="replace the results already in --output-dir"
    )
    parser.add_argument(
        "--resume",
        action="store_true",
        help="continue the runs saved in --output-dir/runs from their last labelling step, with "
        "the same options; runs not started yet start afresh",
    )
    parser.add_argument("--quiet", action="store_true", help="print no table and no progress bar")
    add_stream_arguments(parser, _fraction, _positive_int)
    parser.set_defaults(run=run, command_parser=parser)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the experiment that ``args`` describes; return the exit status."""
    stream_mode = args.mode == "stream"
    known = STREAM_STRATEGIES if stream_mode else tuple(STRATEGIES)
    if args.strategy is None:
        args.strategy = DEFAULT_STREAM_STRATEGIES if stream_mode else DEFAULT_POOL_STRATEGIES
    names = [name.strip() for name in args.strategy.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        parser.error(
            f"argument --strategy: invalid strategy {', '.join(map(repr, unknown)) or 'list (empty)'}; "
            f"choose from {', '.join(known)}"
        )
    if len(set(names)) != len(names):
        parser.error(f"argument --strategy: a strategy is listed twice in {args.strategy!r}")
    if stream_mode and args.resume:
        parser.error("argument --resume: the stream mode saves no run state, so it cannot resume")
    check_mode_options(args, parser)
    if args.subpool_size is not None and args.subpool_size < args.query_size:
        parser.error(
            f"argument --subpool-size: {args.subpool_size} is smaller than --query-size "
            f"{args.query_size}; the query is chosen from the sub-pool"
        )
    output_dir: Path = args.output_dir
    if output_dir.exists() and not output_dir.is_dir():
        parser.error(f"argument --output-dir: {str(output_dir)!r} exists and is not a folder")
    if args.resume and args.overwrite:
        parser.error("argument --resume: not allowed with --overwrite, which deletes the saved runs")
    has_results = (output_dir / "rounds.csv").exists() or (output_dir / RUNS).exists()
    if has_results and not (args.overwrite or args.resume):
        parser.error(
            f"argument --output-dir: {str(output_dir)!r} already holds results; pass --resume to "
            "continue them, --overwrite to replace them, or choose another folder"
        )
    if args.resume and not has_results:
        parser.error(
            f"argument --resume: {str(output_dir)!r} contains no results to resume; check the folder, "
            "or drop --resume to start new runs"
        )
    if args.resume:
        _check_resumed_options(args, output_dir, parser)
    seeds = args.seeds if args.seeds is not None else [0 if args.seed is None else args.seed]
    runs = [(name, seed) for seed in seeds for name in names]
    saved_rows = _read_saved_rows(output_dir, parser) if args.resume else []
    _quiet_lightning()
    torch.set_num_threads(args.num_threads)
    _check_accelerator(args.accelerator, parser)
    # Every seed's split is made up front, so a bad option fails before any training.
    data_by_seed = {}
    for seed in seeds:
        try:
            data_by_seed[seed] = load_bundled(args.dataset, test_fraction=args.test_fraction, seed=seed)
        except ValueError as error:
            parser.error(f"argument --test-fraction: cannot split {args.dataset} with {args.test_fraction}: {error}")
    train_size = len(data_by_seed[seeds[0]].train)
    if stream_mode:
        check_stream_options(args, parser, names, data_by_seed[seeds[0]].num_classes)
    if not stream_mode and args.initial_labels >= train_size:
        parser.error(
            f"argument --initial-labels: {args.initial_labels} leaves no pool; the {args.dataset} "
            f"train split has {train_size} items"
        )
    pool_size = train_size - args.initial_labels
    if not stream_mode and args.query_size > pool_size:
        parser.error(
            f"argument --query-size: {args.query_size} is larger than the pool of {pool_size} items "
            f"({train_size} in the {args.dataset} train split, {args.initial_labels} labelled first); "
            "pass a smaller --query-size or fewer --initial-labels"
        )
    try:
        if args.overwrite:
            _delete_results(output_dir)
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        parser.error(f"argument --output-dir: cannot create {str(output_dir)!r}: {error.strerror}")
    _write_options(args, output_dir)
    # --resume keeps the rows of the saved runs that this command does not run.
    rows = [row for row in saved_rows if _run_key(row) not in runs]
    # Saved runs keep their place in rounds.csv, and new runs follow in command order.
    keys = dict.fromkeys([*map(_run_key, saved_rows), *runs])
    run_order = {key: position for position, key in enumerate(keys)}
    progress = tqdm(
        # A stream run's number of models depends on when its labels arrive.
        total=None if stream_mode else len(seeds) * len(names) * args.rounds,
        unit="round",
        disable=args.quiet,
        file=sys.stderr,
        dynamic_ncols=True,
    )
    _echo(args, _header())
    for position, (name, seed) in enumerate(runs):
        progress.set_description(name if len(seeds) == 1 else f"{name} seed {seed}")
        run_one = _run_stream_strategy if stream_mode else _run_strategy
        results = run_one(name, seed, data_by_seed[seed], args, rows, output_dir, progress)
        label = name if len(seeds) == 1 else f"{name}, seed {seed}"
        _echo(args, f"{label}: {results.stop_message}")
        if not stream_mode:
            # A run that stops before --rounds (an empty pool) still fills its share of the bar.
            progress.update((position + 1) * args.rounds - progress.n)
    progress.close()

    rows.sort(key=lambda row: run_order[_run_key(row)])
    frame = _write_rounds(rows, output_dir)
    try:
        from energizer.plotting import plot_learning_curves

        plot_learning_curves(frame, output_dir / "learning_curve.png")
    except ImportError as error:
        log.warning("Skipped learning_curve.png: %s", error)
    _echo(args, f"Wrote {output_dir / 'rounds.csv'} and {output_dir / 'learning_curve.png'}")
    return 0


def _compared_options(args: argparse.Namespace) -> dict[str, Any]:
    """Return the options that shape the results, as JSON values, for a resumed run to compare."""
    options = {key: value for key, value in vars(args).items() if key not in UNCOMPARED_OPTIONS}
    return json.loads(json.dumps(options, default=str))


def _write_options(args: argparse.Namespace, output_dir: Path) -> None:
    # Written aside, then renamed, so a resumed run never reads half a file.
    path = output_dir / OPTIONS_FILE
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(json.dumps(_compared_options(args), indent=2, sort_keys=True) + "\n")
    os.replace(temporary, path)


def _check_resumed_options(args: argparse.Namespace, output_dir: Path, parser: argparse.ArgumentParser) -> None:
    """Reject ``--resume`` with options that differ from the saved ones, before any training."""
    path = output_dir / OPTIONS_FILE
    if not path.is_file():
        # A folder without options.json: each run still checks its own saved configuration.
        return
    try:
        saved = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        parser.error(_unreadable_message(path, str(error)))
    if not isinstance(saved, dict):
        reason = f"expected a JSON object of options, received {_json_kind(saved)}"
        parser.error(_unreadable_message(path, reason))
    now = _compared_options(args)
    changed = [
        f"--{key.replace('_', '-')} saved {saved.get(key)!r}, now {now.get(key)!r}"
        for key in sorted(set(saved) | set(now))
        if saved.get(key) != now.get(key)
    ]
    if changed:
        parser.error(
            f"argument --resume: {str(output_dir)!r} was run with other options ({'; '.join(changed)}); "
            "pass the saved options, or choose another --output-dir"
        )


def _unreadable_message(path: Path, reason: str) -> str:
    # Deleting the file is no fix: without it, --resume would skip the comparison of options.
    return (
        f"argument --resume: cannot read {str(path)!r}: {reason}; restore it from a copy, "
        "or choose another --output-dir"
    )


def _json_kind(value: Any) -> str:
    kinds = {
        list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"
    }
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _read_saved_rows(output_dir: Path, parser: argparse.ArgumentParser) -> list[dict[str, Any]]:
    """Return the rows of the saved ``rounds.csv``, or an empty list when the folder has none."""
    path = output_dir / "rounds.csv"
    if not path.is_file():
        return []
    try:
        # Ids stay text, so that a column of single ids and empty cells never turns into floats.
        frame = pd.read_csv(path, dtype={"strategy": str, "queried_ids": str})
    except (OSError, UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        parser.error(_unreadable_message(path, str(error)))
    if not {"strategy", "seed"} <= set(frame.columns):
        received = ", ".join(map(str, frame.columns))
        reason = f"expected the columns strategy and seed, received {received}"
        parser.error(_unreadable_message(path, reason))
    if not pd.api.types.is_integer_dtype(frame["seed"]):
        reason = f"expected whole-number seeds, received {', '.join(map(str, frame['seed'].unique()[:5]))}"
        parser.error(_unreadable_message(path, reason))
    return frame.to_dict("records")


def _run_key(row: dict[str, Any]) -> tuple[str, int]:
    return str(row["strategy"]), int(row["seed"])


def _delete_results(output_dir: Path) -> None:
    """Delete the results of an earlier run, so that none of them sits next to the new options."""
    if (output_dir / RUNS).is_dir():
        shutil.rmtree(output_dir / RUNS)
    for name in ("rounds.csv", "learning_curve.png"):
        (output_dir / name).unlink(missing_ok=True)


def _run_strategy(
    name: str,
    seed: int,
    data: Any,
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    output_dir: Path,
    progress: tqdm,
) -> energizer.ActiveFitResults:
    # Seeding before the model is built gives every strategy the same initial weights.
    pl.seed_everything(seed, verbose=False)
    model = MLPClassifier(data.num_features, data.num_classes, learning_rate=args.learning_rate)
    strategy = strategy_class(name)(model, seed=seed, subpool_size=args.subpool_size)
    datamodule = energizer.ActiveDataModule(
        data.train,
        test_dataset=data.test,
        batch_size=args.batch_size,
        eval_batch_size=args.eval_batch_size,
        num_workers=args.num_workers,
        persistent_workers=args.num_workers > 0,
        initial_labels=args.initial_labels,
        initial_sampling=args.initial_sampling,
        seed=seed,
    )
    trainer = energizer.Trainer(
        max_steps=args.max_steps,
        max_epochs=args.max_epochs if args.max_epochs is not None else -1,
        accelerator=args.accelerator,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )

    def record(result: RoundResult) -> None:
        row = _row(name, seed, result)
        rows.append(row)
        _write_rounds(rows, output_dir)
        progress.update(1)
        _echo(args, _table_row(row), progress)

    run_dir = output_dir / RUNS / f"{name}-seed{seed}"
    resume = args.resume and RunDirectory(run_dir).has_state()
    results = trainer.active_fit(
        strategy,
        datamodule,
        query_size=args.query_size,
        max_rounds=args.rounds,
        on_round_end=record,
        run_dir=run_dir,
        resume=resume,
        seed=seed,
    )
    # A resumed run reports only its new rounds as they end: take every round from the results.
    rows[:] = [row for row in rows if (row["strategy"], row["seed"]) != (name, seed)]
    rows.extend(_row(name, seed, result) for result in results)
    return results


def _run_stream_strategy(
    name: str,
    seed: int,
    data: Any,
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    output_dir: Path,
    progress: tqdm,
) -> StreamResults:
    trainer_kwargs = {
        "max_steps": args.max_steps,
        "max_epochs": args.max_epochs if args.max_epochs is not None else -1,
        "accelerator": args.accelerator,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }

    def record(result: RoundResult) -> None:
        row = _row(name, seed, result)
        rows.append(row)
        _write_rounds(rows, output_dir)
        progress.update(1)
        _echo(args, _table_row(row), progress)

    # The caller prints results.stop_message, which contains the totals of items seen and
    # labelled. The last row's num_seen counts only the items seen before its model was trained.
    return run_stream_strategy(name, data, args, seed, trainer_kwargs, record)


def _row(name: str, seed: int, result: RoundResult) -> dict[str, Any]:
    row = {"strategy": name, "seed": seed, **result.to_dict()}
    row["queried_ids"] = " ".join(map(str, row["queried_ids"]))
    return row


def _write_rounds(rows: list[dict[str, Any]], output_dir: Path) -> pd.DataFrame:
    """Write ``rounds.csv`` through a temporary file, so a reader never sees half a file."""
    frame = pd.DataFrame(rows)
    columns = FIRST_COLUMNS + [column for column in frame.columns if column not in FIRST_COLUMNS]
    frame = frame[columns]
    target = output_dir / "rounds.csv"
    temporary = target.with_suffix(".csv.tmp")
    frame.to_csv(temporary, index=False)
    os.replace(temporary, target)
    return frame


def _header() -> str:
    return TABLE_FORMAT.format(
        strategy="strategy", seed="seed", round="round", num_labelled="labelled",
        accuracy="test_acc", fit="fit_s", query="query_s",
    )


def _table_row(row: dict[str, Any]) -> str:
    accuracy = row.get("test_accuracy")
    return TABLE_FORMAT.format(
        strategy=row["strategy"],
        seed=row["seed"],
        round=row["round"],
        num_labelled=row["num_labelled"],
        accuracy="-" if accuracy is None else f"{accuracy:.4f}",
        fit=f"{row['fit_seconds']:.2f}",
        query=f"{row['query_seconds']:.3f}",
    )


def _echo(args: argparse.Namespace, line: str, progress: tqdm | None = None) -> None:
    if args.quiet:
        return
    if progress is not None:
        progress.write(line, file=sys.stdout)
    else:
        tqdm.write(line, file=sys.stdout)


def _quiet_lightning() -> None:
    # Lightning logs device and epoch-limit notices for every round's trainer;
    # the table already reports each round.
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", category=PossibleUserWarning)
    # Lightning 2.6 calls a torch pytree API that torch 2.13 deprecates; the
    # warning is about Lightning's code, not the user's.
    warnings.filterwarnings("ignore", message=r".*treespec, LeafSpec.*")


def _positive_int(text: str) -> int:
    return _whole_number(text, minimum=1)


def _count(text: str) -> int:
    return _whole_number(text, minimum=0)


def _whole_number(text: str, minimum: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, received {text!r}") from None
    if value < minimum:
        raise argparse.ArgumentTypeError(f"expected a whole number >= {minimum}, received {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, received {text!r}") from None
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"expected a finite number > 0, received {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, received {text!r}") from None
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"expected a seed between 0 and 2**32 - 1, received {value}")
    return value


def _seed_list(text: str) -> list[int]:
    parts = [part.strip() for part in text.split(",")]
    if not all(parts):
        raise argparse.ArgumentTypeError(f"expected comma-separated seeds such as 0,1,2, received {text!r}")
    seeds = []
    for part in parts:
        try:
            seeds.append(_seed(part))
        except argparse.ArgumentTypeError as error:
            raise argparse.ArgumentTypeError(f"invalid seed {part!r} in {text!r}: {error}") from None
    repeated = sorted({seed for seed in seeds if seeds.count(seed) > 1})
    if repeated:
        raise argparse.ArgumentTypeError(
            f"seed {', '.join(map(str, repeated))} is listed twice in {text!r}; list each seed once"
        )
    return seeds


def _check_accelerator(accelerator: str, parser: argparse.ArgumentParser) -> None:
    # Building a throwaway trainer is how Lightning itself validates the name
    # and checks that the device exists.
    try:
        pl.Trainer(accelerator=accelerator, logger=False, enable_checkpointing=False, enable_progress_bar=False)
    except (ValueError, RuntimeError, ImportError, MisconfigurationException) as error:
        parser.error(f"argument --accelerator: {accelerator!r} cannot run here: {error}")


def _fraction(text: str) -> float:
    value = _positive_float(text)
    if not value < 1:
        raise argparse.ArgumentTypeError(f"expected a number strictly between 0 and 1, received {value}")
    return value
