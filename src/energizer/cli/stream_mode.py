"""``energizer simulate --mode stream``: stream-based active learning on a bundled data set.

The training split arrives as a shuffled stream in batches. A stream
strategy decides on each item, under a budget manager, whether to ask for its
label, and the model is retrained every ``--update-every-labels`` labels.
Rows go to the same ``rounds.csv`` as the pool mode, with ``num_seen``.
"""

from __future__ import annotations

import argparse
import math
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

__all__ = [
    "STREAM_STRATEGIES",
    "DEFAULT_STREAM_STRATEGIES",
    "add_stream_arguments",
    "check_mode_options",
    "check_stream_options",
    "run_stream_strategy",
]

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
        "--threshold",
        type=_finite_float,
        default=0.5,
        help="score above which fixed-uncertainty asks for a label (default: 0.5)",
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


POOL_OPTIONS = ("query_size", "initial_labels", "initial_sampling", "rounds", "subpool_size")
"""Options of ``energizer simulate`` that only the pool mode reads."""

STREAM_OPTIONS = (
    "budget",
    "budget_manager",
    "window",
    "score",
    "threshold",
    "step",
    "random_share",
    "update_every_labels",
    "stream_batch_size",
    "max_items",
)
"""Options of ``energizer simulate`` that only the stream mode reads."""

# The stream strategies that read each strategy option.
OPTION_USERS = {
    "score": ("fixed-uncertainty", "variable-uncertainty", "split"),
    "threshold": ("fixed-uncertainty",),
    "step": ("variable-uncertainty", "split"),
    "random_share": ("split",),
}


def check_mode_options(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """Reject an option that the chosen ``--mode`` would ignore.

    An option counts as given when its value differs from its default, so
    repeating a default is harmless.
    """
    stream_mode = args.mode == "stream"
    ignored = POOL_OPTIONS if stream_mode else STREAM_OPTIONS
    other = "pool" if stream_mode else "stream"
    for dest in ignored:
        if getattr(args, dest) != parser.get_default(dest):
            parser.error(
                f"argument {_flag(dest)}: applies to --mode {other} only, and this run has --mode {args.mode}; "
                f"drop {_flag(dest)} or pass --mode {other}"
            )


def check_stream_options(
    args: argparse.Namespace, parser: argparse.ArgumentParser, names: list[str], num_classes: int
) -> None:
    """Reject stream options that no chosen strategy reads, or that would never request a label."""
    for dest, users in OPTION_USERS.items():
        if getattr(args, dest) != parser.get_default(dest) and not set(users) & set(names):
            parser.error(
                f"argument {_flag(dest)}: used only by {', '.join(users)}, and --strategy is "
                f"{','.join(names)}; add one of them to --strategy or drop {_flag(dest)}"
            )
    if "fixed-uncertainty" in names:
        highest = {"least-confidence": 1 - 1 / num_classes, "margin": 1.0, "entropy": math.log(num_classes)}[args.score]
        if not 0 <= args.threshold < highest:
            default = " (the default)" if args.threshold == parser.get_default("threshold") else ""
            never = args.threshold >= highest
            parser.error(
                f"argument --threshold: {args.threshold:g}{default} is outside [0, {highest:.4g}), "
                f"the range where {args.score} scores over {num_classes} classes can exceed it, "
                f"so fixed-uncertainty would {'never' if never else 'always'} ask for a label; "
                f"pass a --threshold in that range, such as {highest / 2:.3g}"
            )
    if args.window is not None:
        if args.budget_manager != "estimated":
            parser.error(
                f"argument --window: only --budget-manager estimated reads it, and this run has "
                f"{args.budget_manager}; pass --budget-manager estimated or drop --window"
            )
        if args.window * args.budget < 1:
            parser.error(
                f"argument --window: {args.window} items hold less than one label at --budget {args.budget:g} "
                f"(window x budget < 1); pass --window {math.ceil(10 / args.budget)} or more, or drop it "
                f"for the default max(100, 10/budget)"
            )


def _finite_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, received {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, received {text!r}")
    return value


def _flag(dest: str) -> str:
    return "--" + dest.replace("_", "-")


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
