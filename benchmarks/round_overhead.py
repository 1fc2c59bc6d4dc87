"""Time of an active learning round: energizer's ``active_fit`` against plain Lightning.

Both sides do the same work on the same synthetic data. They use the same
model class, the same initial weights, the same seeds and the same Lightning
``Trainer`` arguments: CPU, no logger, no checkpointing, no progress bar, no
model summary and ``--max-epochs`` epochs. The work is:

1. fit on the initial labelled items on a fresh ``Trainer``, then test;
2. predict logits over the unlabelled items, score them by entropy, take the
   top ``--query-size`` and add them to the labelled items;
3. restore the initial weights, fit on the labelled items on a fresh
   ``Trainer``, then test.

- ``energizer``: the timed call builds an ``energizer.Trainer`` and runs
  ``active_fit(EntropyStrategy(model), datamodule, query_size=...,
  max_rounds=2, seed=--seed)``. The ``ActiveDataModule`` is built before the timer starts.
- ``plain Lightning``: the same steps written with ``lightning.pytorch.Trainer``
  (``fit``, ``test``, and ``predict`` over a ``DataLoader`` on the unlabelled
  items), ``torch.topk`` of the entropy of the softmax, and a boolean mask of
  the labelled items. Each round starts with ``seed_everything`` on the same
  per-round seed that ``active_fit`` uses. The loaders are built inside the timed region, as
  ``active_fit`` builds its own.

Each repeat runs both sides once, the first side alternating from one repeat
to the next, after one untimed warm-up run of each. A repeat's ratio is the
energizer time divided by the plain time. The script prints the median and
the range of those ratios, the median time of each side, and whether both
sides queried the same items and reached the same test loss. A second table
splits each side's time into its ``fit`` calls, its ``test`` calls, the query
(predict, scores and top-k, as ``RoundResult.query_seconds`` measures it) and
the rest.

    .venv/bin/python benchmarks/round_overhead.py
"""

from __future__ import annotations

import argparse
import copy
import logging
import platform
import statistics
import time
import warnings
from typing import Any, NamedTuple

import lightning
import lightning.pytorch as pl
import numpy as np
import torch
from torch import Tensor
from torch.utils.data import DataLoader, Subset, TensorDataset

import energizer
from energizer.models import MLPClassifier
from energizer.query_strategies import EntropyStrategy
from energizer.seeding import derive_seed


class PredictingMLP(MLPClassifier):
    """``MLPClassifier`` whose ``predict_step`` returns logits of ``(inputs, targets)`` batches.

    Both sides use this class. energizer's strategy calls only ``forward``,
    and the plain side needs ``predict_step`` for ``Trainer.predict``.
    """

    def predict_step(
        self, batch: tuple[Tensor, Tensor], batch_idx: int, dataloader_idx: int = 0
    ) -> Tensor:
        inputs, _ = batch
        return self(inputs)


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages from ``/proc/loadavg``."""
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


def make_datasets(args: argparse.Namespace) -> tuple[TensorDataset, TensorDataset]:
    """Draw a train set and a test set of Gaussian inputs.

    Each target is the argmax of a fixed random linear map of the inputs, so
    the model has something to learn.
    """
    generator = torch.Generator().manual_seed(args.seed)
    weights = torch.randn(args.features, args.classes, generator=generator)

    def draw(num_items: int) -> TensorDataset:
        inputs = torch.randn(num_items, args.features, generator=generator)
        return TensorDataset(inputs, (inputs @ weights).argmax(dim=1))

    return draw(args.pool_size + args.initial_labels), draw(args.test_size)


def trainer_kwargs(args: argparse.Namespace) -> dict[str, Any]:
    return {
        "accelerator": "cpu",
        "devices": 1,
        "max_epochs": args.max_epochs,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
    }


def new_model(args: argparse.Namespace) -> PredictingMLP:
    torch.manual_seed(args.seed)
    hidden_sizes = [int(width) for width in args.hidden_sizes.split(",")]
    return PredictingMLP(args.features, args.classes, hidden_sizes=hidden_sizes)


class Run(NamedTuple):
    """One timed run of a side."""

    seconds: float
    phases: dict[str, float]
    """Seconds of the ``fit`` calls, the ``test`` calls, and the query (predict, scores, top-k)."""
    queried_ids: np.ndarray
    test_loss: float
    """Test loss of round 1."""


def run_energizer(
    args: argparse.Namespace, train: TensorDataset, test: TensorDataset, initial_ids: np.ndarray
) -> Run:
    """Time ``active_fit`` with two rounds, with its own per-phase times."""
    model = new_model(args)
    datamodule = energizer.ActiveDataModule(
        train,
        test_dataset=test,
        initial_labels=initial_ids,
        batch_size=args.batch_size,
        eval_batch_size=args.eval_batch_size,
        seed=args.seed,
    )
    # The strategy gets an explicit seed. With seed=None it draws one from torch's global
    # generator, which would change this side's shuffling and so its queried items.
    strategy = EntropyStrategy(model, seed=args.seed)
    started = time.perf_counter()
    trainer = energizer.Trainer(**trainer_kwargs(args))
    results = trainer.active_fit(
        strategy, datamodule, query_size=args.query_size, max_rounds=2, seed=args.seed
    )
    seconds = time.perf_counter() - started
    phases = {
        "fit": sum(record.fit_seconds for record in results.rounds),
        "test": sum(record.test_seconds for record in results.rounds),
        "query": sum(record.query_seconds for record in results.rounds),
    }
    return Run(
        seconds, phases, results.rounds[0].queried_ids, results.rounds[-1].metrics["test_loss"]
    )


def run_plain(
    args: argparse.Namespace, train: TensorDataset, test: TensorDataset, initial_ids: np.ndarray
) -> Run:
    """Time the same two rounds in plain Lightning calls, timing the phases as energizer does."""
    model = new_model(args)
    kwargs = trainer_kwargs(args)
    phases = dict.fromkeys(("fit", "test", "query"), 0.0)
    started = time.perf_counter()
    initial_weights = copy.deepcopy(model.state_dict())
    labelled = np.zeros(len(train), dtype=bool)
    labelled[initial_ids] = True

    def fit_and_test(round_index: int) -> tuple[pl.Trainer, float]:
        # active_fit seeds each round with derive_seed(run seed, round index), so both sides
        # shuffle alike and the check of the queried items compares like with like.
        pl.seed_everything(derive_seed(args.seed, round_index), workers=True, verbose=False)
        trainer = pl.Trainer(**kwargs)
        train_loader = DataLoader(
            Subset(train, np.flatnonzero(labelled).tolist()),
            batch_size=args.batch_size,
            shuffle=True,
        )
        phase_started = time.perf_counter()
        trainer.fit(model, train_dataloaders=train_loader)
        phases["fit"] += time.perf_counter() - phase_started
        test_loader = DataLoader(test, batch_size=args.eval_batch_size)
        phase_started = time.perf_counter()
        metrics = trainer.test(model, dataloaders=test_loader, verbose=False)[0]
        phases["test"] += time.perf_counter() - phase_started
        return trainer, float(metrics["test_loss"])

    trainer, _ = fit_and_test(0)
    phase_started = time.perf_counter()
    pool_ids = np.flatnonzero(~labelled)
    pool_loader = DataLoader(Subset(train, pool_ids.tolist()), batch_size=args.eval_batch_size)
    logits = torch.cat(trainer.predict(model, dataloaders=pool_loader))
    log_probs = torch.log_softmax(logits, dim=1)
    scores = -(log_probs.exp() * log_probs).sum(dim=1)
    queried = pool_ids[torch.topk(scores, args.query_size).indices.numpy()]
    phases["query"] += time.perf_counter() - phase_started
    labelled[queried] = True
    model.load_state_dict(initial_weights)
    _, test_loss = fit_and_test(1)
    seconds = time.perf_counter() - started
    return Run(seconds, phases, queried, test_loss)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=20_000,
        help="unlabelled items at the start (default: 20000)",
    )
    parser.add_argument(
        "--initial-labels",
        type=int,
        default=500,
        help="items labelled before round 0 (default: 500)",
    )
    parser.add_argument(
        "--query-size", type=int, default=500, help="items queried in round 0 (default: 500)"
    )
    parser.add_argument("--test-size", type=int, default=5_000, help="test items (default: 5000)")
    parser.add_argument("--features", type=int, default=32, help="input width D (default: 32)")
    parser.add_argument("--classes", type=int, default=10, help="number of classes C (default: 10)")
    parser.add_argument(
        "--hidden-sizes",
        default="128,128",
        help="comma-separated hidden layer widths (default: 128,128)",
    )
    parser.add_argument(
        "--max-epochs", type=int, default=10, help="epochs of each fit (default: 10)"
    )
    parser.add_argument("--batch-size", type=int, default=32, help="train batch size (default: 32)")
    parser.add_argument(
        "--eval-batch-size", type=int, default=256, help="test and pool batch size (default: 256)"
    )
    parser.add_argument(
        "--repeats", type=int, default=5, help="timed runs of each side (default: 5)"
    )
    parser.add_argument("--threads", type=int, default=1, help="torch.set_num_threads (default: 1)")
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the data, the weights and the shuffling (default: 0)",
    )
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)
    warnings.filterwarnings("ignore", message=".*is smaller than the logging interval.*")
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"lightning {lightning.__version__}, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(
        f"pool {args.pool_size} items, {args.initial_labels} initial labels, "
        f"query size {args.query_size}, test {args.test_size} items, "
        f"D={args.features}, C={args.classes}, hidden {args.hidden_sizes}, "
        f"{args.max_epochs} epochs per fit, batch size {args.batch_size}/{args.eval_batch_size}, "
        f"{args.repeats} repeats"
    )
    print(f"load average at start: {load_average()}")

    train, test = make_datasets(args)
    initial_ids = np.sort(
        np.random.default_rng(args.seed).choice(len(train), size=args.initial_labels, replace=False)
    )
    sides = {"energizer": run_energizer, "plain Lightning": run_plain}

    # The warm-up runs are untimed. They also check that both sides did the same work.
    outcomes = {name: run(args, train, test, initial_ids) for name, run in sides.items()}
    same_ids = set(outcomes["energizer"].queried_ids.tolist()) == set(
        outcomes["plain Lightning"].queried_ids.tolist()
    )
    print(f"same queried items: {same_ids}")
    print(
        "round 1 test loss: "
        + ", ".join(f"{name} {outcome.test_loss:.6f}" for name, outcome in outcomes.items())
    )

    runs: dict[str, list[Run]] = {name: [] for name in sides}
    names = list(sides)
    for repeat in range(args.repeats):
        order = names if repeat % 2 == 0 else names[::-1]
        for name in order:
            runs[name].append(sides[name](args, train, test, initial_ids))

    print(f"load average at end: {load_average()}")
    baseline = [run.seconds for run in runs["plain Lightning"]]
    print()
    print("| side | median s | min-max s | time / plain Lightning, median (min-max) |")
    print("| --- | ---: | ---: | ---: |")
    for name, side_runs in runs.items():
        times = [run.seconds for run in side_runs]
        ratios = [own / plain for own, plain in zip(times, baseline, strict=True)]
        print(
            f"| {name} | {statistics.median(times):.3f} | {min(times):.3f}-{max(times):.3f} | "
            f"{statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) |"
        )

    # The rest is everything outside the three phases: building trainers and loaders,
    # restoring the weights, labelling, and energizer's checks and records.
    print()
    print("| phase, median s over the repeats | " + " | ".join(runs) + " |")
    print("| --- |" + " ---: |" * len(runs))
    for phase in ("fit", "test", "query", "rest"):
        cells = []
        for side_runs in runs.values():
            if phase == "rest":
                values = [run.seconds - sum(run.phases.values()) for run in side_runs]
            else:
                values = [run.phases[phase] for run in side_runs]
            cells.append(f"{statistics.median(values):.3f}")
        print(f"| {phase} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
