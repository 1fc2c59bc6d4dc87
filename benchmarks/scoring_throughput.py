"""Pool scoring throughput: energizer's ``Trainer.query`` against a plain inference loop.

The same model (an ``energizer.models.MLPClassifier``) scores the same
synthetic pool with the same batch size on three sides, each timed with
``time.perf_counter``, and a callback times the predict loop within the first:

- ``energizer``: ``trainer.query(EntropyStrategy(model), datamodule, query_size)``
  on an ``energizer.Trainer`` built once beforehand (no logger, no
  checkpointing, no progress bar). The time covers the whole call. That is
  the argument checks, Lightning's predict setup and teardown, and the
  predict loop over the pool: batches loaded through
  ``ActiveDataModule.pool_dataloader``, logits, their checks and entropy.
  It also covers collecting the scores by dataset id, aligning them with
  the pool ids, and the top-k selection.
- ``energizer predict loop``: the part of that same call between Lightning's
  ``on_predict_start`` and ``on_predict_end`` hooks, read by a callback. It is
  the loop over the batches without Lightning's setup and teardown or
  energizer's score alignment and selection.
- ``plain entropy``: the model in eval mode under ``torch.inference_mode()``,
  over a plain ``torch.utils.data.DataLoader`` on a ``Subset`` of the same
  pool items: forward, entropy of the softmax, scores written into a
  preallocated tensor, and ``torch.topk`` at the end. This is the baseline of
  the ratio.
- ``plain logits``: the same loop with the forward pass alone, no entropy and
  no selection, as a lower bound.

Each repeat runs the three timed sides once, in an order that rotates from
one repeat to the next, after one untimed warm-up run of each. A repeat's
ratio is the plain entropy time divided by the energizer time, which equals
energizer's throughput divided by the baseline's. The script prints the
median and the range of those ratios, and the median time of each side.
``--breakdown`` also times the parts of a pass on their own, each side's
median of ``--repeats`` alternating runs: iterating each side's loader, and
scoring batches that were loaded beforehand (energizer's
``EntropyStrategy.pool_step`` against the plain forward and entropy).
``--profile`` runs one more energizer query under cProfile and prints the
functions with the largest own time and the largest cumulative time.

    .venv/bin/python benchmarks/scoring_throughput.py
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import platform
import pstats
import statistics
import time
import warnings

import lightning
import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader, Subset, TensorDataset

import energizer
from energizer.models import MLPClassifier
from energizer.query_strategies import EntropyStrategy


class PredictLoopTimer(pl.Callback):
    """Callback that times a predict call from ``on_predict_start`` to ``on_predict_end``."""

    def __init__(self) -> None:
        self.started = 0.0
        self.seconds = float("nan")

    def on_predict_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.started = time.perf_counter()

    def on_predict_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self.seconds = time.perf_counter() - self.started


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages from ``/proc/loadavg``."""
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


def make_dataset(num_items: int, num_features: int, num_classes: int, seed: int) -> TensorDataset:
    """Draw standard normal float32 inputs and uniform random targets."""
    generator = torch.Generator().manual_seed(seed)
    inputs = torch.randn(num_items, num_features, generator=generator)
    targets = torch.randint(0, num_classes, (num_items,), generator=generator)
    return TensorDataset(inputs, targets)


def plain_scores(
    model: torch.nn.Module, loader: DataLoader, num_items: int, query_size: int, entropy: bool
) -> torch.Tensor | None:
    """Run the baseline loop over ``loader``.

    With ``entropy``, it also scores every item and returns the positions of
    the ``query_size`` highest scores. Without it, it computes the logits only
    and returns ``None``.
    """
    model.eval()
    scores = torch.empty(num_items)
    start = 0
    with torch.inference_mode():
        for inputs, _ in loader:
            logits = model(inputs)
            if entropy:
                log_probs = torch.log_softmax(logits, dim=1)
                scores[start : start + len(inputs)] = -(log_probs.exp() * log_probs).sum(dim=1)
            start += len(inputs)
    if not entropy:
        return None
    return torch.topk(scores, query_size).indices


def print_breakdown(
    strategy: EntropyStrategy,
    datamodule: energizer.ActiveDataModule,
    plain_loader: DataLoader,
    repeats: int,
) -> None:
    """Time loading and scoring on their own, alternating the sides, and print the medians."""
    model = strategy.model
    batches = [inputs for inputs, _ in plain_loader]

    def iterate(loader: DataLoader) -> None:
        for _ in loader:
            pass

    def score_energizer() -> None:
        with torch.inference_mode():
            for index, inputs in enumerate(batches):
                strategy.pool_step((inputs, None), index)

    def score_plain() -> None:
        with torch.inference_mode():
            for inputs in batches:
                log_probs = torch.log_softmax(model(inputs), dim=1)
                -(log_probs.exp() * log_probs).sum(dim=1)

    parts = {
        "load, energizer pool_dataloader": lambda: iterate(datamodule.pool_dataloader()),
        "load, plain DataLoader": lambda: iterate(plain_loader),
        "score loaded batches, energizer pool_step": score_energizer,
        "score loaded batches, plain forward and entropy": score_plain,
    }
    model.eval()
    seconds: dict[str, list[float]] = {name: [] for name in parts}
    for repeat in range(repeats):
        for name in list(parts) if repeat % 2 == 0 else list(parts)[::-1]:
            started = time.perf_counter()
            parts[name]()
            seconds[name].append(time.perf_counter() - started)
    print("| part | median s |")
    print("| --- | ---: |")
    for name, times in seconds.items():
        print(f"| {name} | {statistics.median(times):.3f} |")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pool-size", type=int, default=100_000, help="unlabelled items scored (default: 100000)"
    )
    parser.add_argument(
        "--labelled", type=int, default=1_000, help="labelled items, not scored (default: 1000)"
    )
    parser.add_argument("--features", type=int, default=256, help="input width D (default: 256)")
    parser.add_argument(
        "--classes", type=int, default=100, help="number of classes C (default: 100)"
    )
    parser.add_argument(
        "--hidden-sizes", default="512", help="comma-separated hidden layer widths (default: 512)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=256, help="pool batch size of every side (default: 256)"
    )
    parser.add_argument(
        "--query-size", type=int, default=1_000, help="items selected (default: 1000)"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs of each side (default: 5)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default: 1)")
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the data and the weights (default: 0)"
    )
    parser.add_argument(
        "--breakdown", action="store_true", help="also time loading and scoring on their own"
    )
    parser.add_argument(
        "--profile", action="store_true", help="profile one more energizer query with cProfile"
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    hidden_sizes = [int(width) for width in args.hidden_sizes.split(",")]
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"lightning {lightning.__version__}, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(
        f"pool {args.pool_size} items, D={args.features}, C={args.classes}, hidden {hidden_sizes}, "
        f"batch size {args.batch_size}, query size {args.query_size}, {args.repeats} repeats"
    )
    print(f"load average at start: {load_average()}")

    dataset = make_dataset(args.pool_size + args.labelled, args.features, args.classes, args.seed)
    torch.manual_seed(args.seed)
    model = MLPClassifier(args.features, args.classes, hidden_sizes=hidden_sizes)
    datamodule = energizer.ActiveDataModule(
        dataset,
        initial_labels=args.labelled or None,
        batch_size=args.batch_size,
        eval_batch_size=args.batch_size,
        seed=args.seed,
    )
    pool_ids = datamodule.pool_ids
    strategy = EntropyStrategy(model, seed=args.seed)
    timer = PredictLoopTimer()
    trainer = energizer.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
    )
    plain_loader = DataLoader(
        Subset(dataset, pool_ids.tolist()), batch_size=args.batch_size, shuffle=False
    )

    def run_energizer() -> float:
        started = time.perf_counter()
        trainer.query(strategy, datamodule, args.query_size)
        return time.perf_counter() - started

    def run_plain(entropy: bool) -> float:
        started = time.perf_counter()
        plain_scores(model, plain_loader, len(pool_ids), args.query_size, entropy)
        return time.perf_counter() - started

    sides = {
        "energizer": run_energizer,
        "plain entropy": lambda: run_plain(True),
        "plain logits": lambda: run_plain(False),
    }
    # The warm-up runs are untimed. They also check that both entropy sides select the same items.
    chosen_energizer = trainer.query(strategy, datamodule, args.query_size)
    chosen_plain = pool_ids[
        plain_scores(model, plain_loader, len(pool_ids), args.query_size, True).numpy()
    ]
    run_plain(False)
    overlap = len(set(chosen_energizer.tolist()) & set(chosen_plain.tolist()))
    print(f"same selected items, energizer and plain entropy: {overlap} of {args.query_size}")

    seconds: dict[str, list[float]] = {name: [] for name in sides}
    seconds["energizer predict loop"] = []
    names = list(sides)
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for name in order:
            seconds[name].append(sides[name]())
            if name == "energizer":
                seconds["energizer predict loop"].append(timer.seconds)

    print(f"load average at end: {load_average()}")
    baseline = seconds["plain entropy"]
    print()
    print(
        "| side | median s | min-max s | items/s | throughput / plain entropy, median (min-max) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for name, times in seconds.items():
        ratios = [plain / own for plain, own in zip(baseline, times, strict=True)]
        print(
            f"| {name} | {statistics.median(times):.3f} | {min(times):.3f}-{max(times):.3f} | "
            f"{len(pool_ids) / statistics.median(times):,.0f} | "
            f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) |"
        )

    if args.breakdown:
        print()
        print_breakdown(strategy, datamodule, plain_loader, args.repeats)
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        trainer.query(strategy, datamodule, args.query_size)
        profiler.disable()
        for order in ("tottime", "cumulative"):
            report = io.StringIO()
            pstats.Stats(profiler, stream=report).sort_stats(order).print_stats(20)
            print()
            print(report.getvalue())


if __name__ == "__main__":
    main()
