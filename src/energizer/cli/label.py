"""``energizer label``: active learning on a bundled data set with labels from people.

The data set's own labels are never read for training: the initial labels and
every queried item's label come from a labelling file or a Label Studio
project, and the loop waits for them. The run is saved after every labelling
step in ``OUTPUT_DIR/run``, so ``--resume`` continues it after an
interruption without asking for any label twice. The Label Studio token is
read from ``ENERGIZER_LABEL_STUDIO_TOKEN`` only, never from the command line,
where other users of the machine could see it.
"""

from __future__ import annotations

import argparse
import logging
import sys
import warnings
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.fabric.utilities.warnings import PossibleUserWarning

import energizer
from energizer.annotators import Annotator, FileAnnotator, LabelStudioAnnotator
from energizer.datasets import BUNDLED_DATASETS, load_bundled
from energizer.loop.run_dir import RunDirectory
from energizer.models import MLPClassifier
from energizer.query_strategies.registry import STRATEGIES, strategy_class
from energizer.results import RoundResult

__all__ = ["add_parser", "run"]

log = logging.getLogger(__name__)

RUN = "run"


def add_parser(commands: Any) -> None:
    """Register ``label`` and its options on the ``energizer`` subcommands."""
    parser = commands.add_parser(
        "label",
        help="run active learning on a bundled data set with labels from people",
        description=(
            "Query items and wait for people to label them, through a labelling file (CSV or "
            "JSON Lines, edited in any spreadsheet tool) or a Label Studio project. The run is "
            "saved in OUTPUT_DIR/run after every labelling step; --resume continues it."
        ),
    )
    parser.add_argument("--dataset", default="digits", choices=list(BUNDLED_DATASETS), help="bundled data set (default: digits)")
    parser.add_argument("--annotator", choices=["file", "label-studio"], default="file", help="where labels come from (default: file)")
    parser.add_argument(
        "--labels-file",
        type=Path,
        default=None,
        help="labelling file of --annotator file, .csv or .jsonl; people write class numbers "
        "(0 to C-1) or skip in its label column (default: OUTPUT_DIR/labels.csv)",
    )
    parser.add_argument(
        "--url", default=None, help="Label Studio address (default: ENERGIZER_LABEL_STUDIO_URL); the token is read from ENERGIZER_LABEL_STUDIO_TOKEN"
    )
    parser.add_argument("--project", default="energizer", help="Label Studio project title (default: energizer)")
    parser.add_argument("--strategy", default="entropy", choices=list(STRATEGIES), help="query strategy (default: entropy)")
    parser.add_argument("--query-size", type=_positive_int, default=20, help="items sent to people per round (default: 20)")
    parser.add_argument("--initial-labels", type=_positive_int, default=20, help="items drawn at random and labelled first (default: 20)")
    parser.add_argument("--rounds", type=_positive_int, default=5, help="rounds, the first included; the last one queries nothing (default: 5)")
    parser.add_argument(
        "--timeout",
        type=float,
        default=None,
        help="seconds each round waits for labels; unanswered items are collected in later rounds. "
        "The initial labels are always awaited (default: wait for all)",
    )
    parser.add_argument("--max-steps", type=_positive_int, default=300, help="optimizer steps per round (default: 300)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, the initial draw and the weights (default: 0)")
    parser.add_argument("--poll-interval", type=float, default=2.0, help="first seconds between two reads of the labels (default: 2)")
    parser.add_argument("--output-dir", type=Path, default=Path("out-label"), help="folder of the run (default: out-label)")
    parser.add_argument("--resume", action="store_true", help="continue the run saved in OUTPUT_DIR/run")
    parser.set_defaults(run=run, command_parser=parser)


def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    """Run the labelling loop that ``args`` describes; return the exit status."""
    suffix = args.labels_file.suffix.lower() if args.labels_file is not None else ".csv"
    if suffix not in (".csv", ".jsonl", ".ndjson"):
        parser.error(f"argument --labels-file: expected a .csv or .jsonl file, received {str(args.labels_file)!r}")
    if args.timeout is not None and not args.timeout >= 0:
        parser.error(f"argument --timeout: expected seconds >= 0, received {args.timeout}")
    if not args.poll_interval > 0:
        parser.error(f"argument --poll-interval: expected seconds > 0, received {args.poll_interval}")
    run_dir = args.output_dir / RUN
    if args.resume and not RunDirectory(run_dir).has_state():
        parser.error(f"argument --resume: {str(run_dir)!r} holds no saved run; leave out --resume to start one")
    if not args.resume and RunDirectory(run_dir).has_state():
        parser.error(f"argument --output-dir: {str(run_dir)!r} holds a run; pass --resume to continue it, or choose another folder")
    _show_progress()
    torch.set_num_threads(1)
    data = load_bundled(args.dataset, seed=args.seed)
    if args.initial_labels + args.query_size > len(data.train):
        parser.error(
            f"argument --initial-labels: {args.initial_labels} initial labels and a --query-size of "
            f"{args.query_size} exceed the {len(data.train)} items of the {args.dataset} train split"
        )
    args.output_dir.mkdir(parents=True, exist_ok=True)
    args.num_classes = data.num_classes
    annotator = _annotator(args, data)

    pl.seed_everything(args.seed, verbose=False)
    model = MLPClassifier(data.num_features, data.num_classes)
    strategy = strategy_class(args.strategy)(model, seed=args.seed)
    datamodule = energizer.ActiveDataModule(data.train, test_dataset=data.test, eval_batch_size=256, seed=args.seed)
    if not args.resume:
        _label_initial_items(annotator, datamodule, args)
    trainer = energizer.Trainer(
        max_steps=args.max_steps,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )

    def report(record: RoundResult) -> None:
        accuracy = record.metrics.get("test_accuracy", float("nan"))
        print(
            f"round {record.round}: {record.num_labelled} labelled, test accuracy {accuracy:.4f}, "
            f"{record.queried_ids.size} sent for labelling",
            flush=True,
        )

    results = trainer.active_fit(
        strategy,
        datamodule,
        query_size=args.query_size,
        max_rounds=args.rounds,
        run_dir=run_dir,
        resume=args.resume,
        seed=args.seed,
        annotator=annotator,
        annotation_timeout=args.timeout,
        on_round_end=report,
    )
    print(results.stop_message, flush=True)
    return 0


def _annotator(args: argparse.Namespace, data: Any) -> Annotator:
    if args.annotator == "file":
        path = args.labels_file if args.labels_file is not None else args.output_dir / "labels.csv"
        return FileAnnotator(path, num_classes=data.num_classes, poll_interval=args.poll_interval)
    features = data.train.tensors[0].numpy()
    rows = [[round(float(value), 4) for value in row] for row in features]
    annotator = LabelStudioAnnotator(
        rows,
        class_names=[str(index) for index in range(data.num_classes)],
        data_kind="table",
        project=args.project,
        url=args.url,
        poll_interval=args.poll_interval,
    )
    # The annotator adopts the project's tasks only when it connects. A new run connects
    # before its first request, so it can find and cancel the tasks of earlier runs.
    annotator.connect()
    return annotator


def _label_initial_items(annotator: Annotator, datamodule: energizer.ActiveDataModule, args: argparse.Namespace) -> None:
    """Ask people for the labels of ``--initial-labels`` items drawn at random, and wait for them all."""
    generator = np.random.default_rng(args.seed)
    ids = np.sort(generator.choice(datamodule.dataset_length, size=args.initial_labels, replace=False))
    # A new run requests nothing else: rows found in the store for other ids are not requests.
    foreign = np.setdiff1d(annotator.pending_ids, ids)
    if foreign.size:
        log.warning(
            "Ignoring %d rows or tasks for ids this run did not request (for example %s); "
            "delete them from the labelling file or project.",
            foreign.size,
            foreign[:10].tolist(),
        )
        annotator.cancel(foreign)
    annotator.request(ids)
    labelled: dict[int, int] = {}
    log.info(
        "Waiting for the labels of %d initial items (class numbers 0 to %d, or skip).",
        ids.size,
        args.num_classes - 1,
    )
    while annotator.pending_ids.size:
        found = annotator.collect(timeout=None)
        labelled.update(found.labels)
    # Skipped initial items stay in the pool, unlabelled: no item is asked for twice.
    chosen = np.array(sorted(labelled), dtype=np.int64)
    datamodule.label(chosen, round=0, labels=np.array([labelled[int(item)] for item in chosen], dtype=np.int64))


def _show_progress() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%H:%M:%S"))
    for name in ("energizer.annotators", "energizer.trainer", __name__):
        logger = logging.getLogger(name)
        logger.setLevel(logging.INFO)
        logger.addHandler(handler)
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    # Lightning's notices about the bundled model are not the user's to act on.
    warnings.filterwarnings("ignore", category=PossibleUserWarning)
    warnings.filterwarnings("ignore", message=r".*treespec, LeafSpec.*")
    warnings.filterwarnings("ignore", message=r".*`validation_step` but have no `val_dataloader`.*")


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, received {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 1, received {value}")
    return value
