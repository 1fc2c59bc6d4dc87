"""``energizer simulate --mode stream``: stream-based active learning on a bundled data set.

The training split arrives as a shuffled stream in batches. A stream
strategy decides on each item, under a budget manager, whether to ask for its
label, and the model is retrained every ``--update-every-labels`` labels.
Rows go to the same ``rounds.csv`` as the pool mode, with ``num_seen``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import lightning.pytorch as pl
from torch import Tensor
from torch.utils.data import DataLoader

from energizer.acquisition import entropy, least_confidence, margin
from energizer.models import MLPClassifier
from energizer.stream import (
    BudgetManager,
    CumulativeBudget,
    DatasetOracle,
    EstimatedBudget,
    FixedUncertainty,
    RandomStream,
    Split,
    StreamLoop,
    StreamResults,
    StreamRoundResult,
    StreamStrategy,
    VariableUncertainty,
    stream_loader,
)

__all__ = ["STREAM_STRATEGIES", "DEFAULT_STREAM_STRATEGIES", "add_stream_arguments", "run_stream_strategy"]

STREAM_STRATEGIES = ("random", "fixed-uncertainty", "variable-uncertainty", "split")
"""Stream strategy names that ``--strategy`` takes in stream mode."""

DEFAULT_STREAM_STRATEGIES = "random,variable-uncertainty,split"

SCORES: dict[str, Callable[[Tensor], Tensor]] = {
    "least-confidence": least_confidence,
    "margin": margin,
    "entropy": entropy,
}


def add_stream_arguments(parser: argparse.ArgumentParser, fraction: Any, positive_int: Any) -> None:
    """Add the options of the stream mode, in their own group of ``--help``."""
    group = parser.add_argument_group("stream mode (--mode stream)")
    group.add_argument(
        "--budget", type=fraction, default=0.1, help="share of the stream's items to label, in (0, 1) (default: 0.1)"
    )
    group.add_argument(
        "--budget-manager",
        choices=["cumulative", "estimated"],
        default="cumulative",
        help="cumulative: the share over the whole stream, never above the budget; estimated: "
        "the share over a sliding window of recent items, which may exceed the budget early in "
        "the stream (default: cumulative)",
    )
    group.add_argument(
        "--window", type=positive_int, default=None, help="items in the estimated manager's window (default: max(100, 10/budget))"
    )
    group.add_argument(
        "--score",
        choices=list(SCORES),
        default="least-confidence",
        help="uncertainty score of the uncertainty strategies (default: least-confidence)",
    )
    group.add_argument(
        "--threshold", type=float, default=0.5, help="score above which fixed-uncertainty asks for a label (default: 0.5)"
    )
    group.add_argument(
        "--step", type=fraction, default=0.01, help="threshold step of variable-uncertainty and split (default: 0.01)"
    )
    group.add_argument(
        "--random-share", type=fraction, default=0.2, help="share of split's labels spent at random (default: 0.2)"
    )
    group.add_argument(
        "--update-every-labels", type=positive_int, default=20, help="retrain after this many new labels (default: 20)"
    )
    group.add_argument(
        "--stream-batch-size", type=positive_int, default=32, help="items that arrive together (default: 32)"
    )
    group.add_argument(
        "--max-items", type=positive_int, default=None, help="stop after this many items (default: the whole stream)"
    )


def run_stream_strategy(
    name: str,
    data: Any,
    args: argparse.Namespace,
    seed: int,
    trainer_kwargs: dict[str, Any],
    on_round_end: Callable[[StreamRoundResult], None],
) -> StreamResults:
    """Run one stream strategy over the shuffled training split with ``seed``; return its results."""
    # Seeding before the model is built gives every strategy the same initial weights.
    pl.seed_everything(seed, verbose=False)
    model = MLPClassifier(data.num_features, data.num_classes, learning_rate=args.learning_rate)
    loop = StreamLoop(
        model,
        _strategy(name, args, seed),
        _budget(args),
        DatasetOracle(data.train),
        score_function=SCORES[args.score],
        update_every_labels=args.update_every_labels,
        trainer_kwargs=trainer_kwargs,
        train_batch_size=args.batch_size,
        test_dataloader=DataLoader(data.test, batch_size=args.eval_batch_size),
    )
    stream = stream_loader(data.train, args.stream_batch_size, seed=seed)
    return loop.run(stream, max_items=args.max_items, on_round_end=on_round_end)


def _strategy(name: str, args: argparse.Namespace, seed: int) -> StreamStrategy:
    if name == "random":
        return RandomStream(probability=1.0, seed=seed)
    if name == "fixed-uncertainty":
        return FixedUncertainty(args.threshold)
    if name == "variable-uncertainty":
        return VariableUncertainty(step=args.step)
    return Split(random_share=args.random_share, step=args.step, seed=seed)


def _budget(args: argparse.Namespace) -> BudgetManager:
    if args.budget_manager == "cumulative":
        return CumulativeBudget(args.budget)
    return EstimatedBudget(args.budget, window=args.window)
