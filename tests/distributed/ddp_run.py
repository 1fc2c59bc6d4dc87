"""Active learning under Lightning DDP on CPU, run as a script: one process per rank.

``python ddp_run.py --devices N --output DIR`` runs the same queries and
``active_fit`` runs with ``N`` processes (``strategy="ddp"`` over Gloo) or,
with ``--devices 1``, in one process. Lightning re-runs this script for each
extra rank. Every rank writes what it queried and labelled to
``DIR/rank<R>.json``, so a test can compare the ranks with each other and
with the one-process run.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import TensorDataset

import energizer
from energizer.errors import LabellingError
from energizer.models import MLPClassifier
from energizer.query_strategies import EntropyStrategy, QueryStrategy, RandomStrategy
from energizer.query_strategies.registry import STRATEGIES
from energizer.stopping import OverallUncertainty, StabilizingPredictions

NUM_FEATURES = 6
NUM_CLASSES = 4

# Small settings that keep every strategy quick. Each strategy takes the ones it accepts.
STRATEGY_OPTIONS = {"seed": 0, "num_samples": 4, "candidates": 40}


def make_dataset(num_items: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(1)
    targets = torch.arange(num_items) % NUM_CLASSES
    centres = 2.0 * torch.eye(NUM_CLASSES, NUM_FEATURES)
    features = centres[targets] + torch.randn(num_items, NUM_FEATURES, generator=generator)
    return TensorDataset(features, targets)


def make_model(learning_rate: float) -> MLPClassifier:
    torch.manual_seed(0)
    return MLPClassifier(
        NUM_FEATURES, NUM_CLASSES, hidden_sizes=(16,), dropout=0.3, learning_rate=learning_rate
    )


def make_strategy(name: str, model: torch.nn.Module, **overrides: Any) -> QueryStrategy:
    strategy_class = STRATEGIES[name]
    accepted = inspect.signature(strategy_class).parameters
    options = {key: value for key, value in {**STRATEGY_OPTIONS, **overrides}.items() if key in accepted}
    return strategy_class(model, **options)


def make_trainer(devices: int, **kwargs: Any) -> energizer.Trainer:
    options: dict[str, Any] = dict(
        accelerator="cpu",
        devices=devices,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    if devices > 1:
        options["strategy"] = "ddp"
    options.update(kwargs)
    return energizer.Trainer(**options)


def queries(devices: int) -> dict[str, list[int]]:
    """One query per registered strategy (and a sub-pool), each on the same fixed weights."""
    dataset = make_dataset(203)
    labelled = [0, 5, 10, 50, 77, 101, 150, 202]
    trainer = make_trainer(devices)
    found = {}
    cases = [(name, {}) for name in STRATEGIES if name != "random"] + [
        ("random", {}),
        ("entropy", {"subpool_size": 31}),
        ("coreset", {"subpool_size": 31}),
    ]
    for name, overrides in cases:
        datamodule = energizer.ActiveDataModule(dataset, initial_labels=labelled, eval_batch_size=16)
        strategy = make_strategy(name, make_model(1e-2), **overrides)
        key = name + ("-subpool" if overrides else "")
        found[key] = trainer.query(strategy, datamodule, query_size=7).tolist()
    return found


def small_pools(devices: int) -> dict[str, list[int]]:
    """Queries from pools of 1 and 2 items: fewer items than processes."""
    dataset = make_dataset(5)
    trainer = make_trainer(devices)
    found = {}
    for name in ("entropy", "coreset", "batchbald", "badge"):
        for pool in ([3], [1, 3]):
            labelled = [item for item in range(5) if item not in pool]
            datamodule = energizer.ActiveDataModule(dataset, initial_labels=labelled, eval_batch_size=2)
            strategy = make_strategy(name, make_model(1e-2))
            found[f"{name}-pool{len(pool)}"] = trainer.query(strategy, datamodule, query_size=1).tolist()
    return found


def active_fits(devices: int) -> dict[str, Any]:
    """Three-round runs with a learning rate of 0, so every process count has the same weights."""
    dataset = make_dataset(97)
    found = {}
    for name in ("random", "margin", "power-bald", "batchbald", "coreset", "badge", "typiclust"):
        datamodule = energizer.ActiveDataModule(
            dataset,
            test_dataset=make_dataset(20),
            initial_labels=9,
            seed=3,
            eval_batch_size=8,
            val_fraction=0.2,
        )
        trainer = make_trainer(devices, max_epochs=1)
        results = trainer.active_fit(
            make_strategy(name, make_model(0.0)), datamodule, query_size=5, max_rounds=3
        )
        found[name] = {
            "queried": [record.queried_ids.tolist() for record in results.rounds],
            "label_rounds": datamodule.label_rounds.tolist(),
            "validation": datamodule.val_ids.tolist(),
            "test_accuracy": [record.metrics["test_accuracy"] for record in results.rounds],
        }
    return found


def stopped(devices: int, run_dir: Path) -> dict[str, Any]:
    """A run that stabilising predictions stop, with the stop set split across processes, saved in ``run_dir``."""
    datamodule = energizer.ActiveDataModule(make_dataset(97), initial_labels=9, seed=3, eval_batch_size=8)
    criteria = [OverallUncertainty(threshold=1e-4, stop_set_size=37), StabilizingPredictions(window=2, stop_set_size=37)]
    results = make_trainer(devices, max_epochs=1).active_fit(
        make_strategy("entropy", make_model(0.0)),
        datamodule,
        query_size=5,
        max_rounds=6,
        stopping=criteria,
        run_dir=run_dir,
    )
    return {
        "queried": [record.queried_ids.tolist() for record in results.rounds],
        "stop_reason": results.stop_reason.value,
        "stop_message": results.stop_message,
        "uncertainty_rounds": len(criteria[0].history),
    }


def unseeded(devices: int) -> dict[str, Any]:
    """A run that trains, with initial labels and random queries drawn without a seed on each process."""
    datamodule = energizer.ActiveDataModule(make_dataset(60), initial_labels=6, eval_batch_size=8)
    trainer = make_trainer(devices, max_epochs=2)
    strategy = RandomStrategy(make_model(1e-2))
    results = trainer.active_fit(strategy, datamodule, query_size=4, max_rounds=2)
    entropy = trainer.query(EntropyStrategy(strategy.model), datamodule, query_size=3)
    return {
        "queried": [record.queried_ids.tolist() for record in results.rounds],
        "label_rounds": datamodule.label_rounds.tolist(),
        "weights": float(sum(value.double().sum() for value in strategy.model.state_dict().values())),
        "entropy": entropy.tolist(),
    }


def diverged(devices: int) -> str:
    """``Trainer.query`` on processes that labelled different items: the error each process raised."""
    rank = int(os.environ.get("LOCAL_RANK", "0"))
    datamodule = energizer.ActiveDataModule(make_dataset(40), initial_labels=[0, 1 + rank], eval_batch_size=8)
    try:
        make_trainer(devices).query(EntropyStrategy(make_model(1e-2)), datamodule, query_size=2)
    except LabellingError as error:
        return str(error)
    return "no error"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--devices", type=int, required=True)
    parser.add_argument("--output", type=Path, required=True)
    arguments = parser.parse_args()
    torch.set_num_threads(1)
    warnings.filterwarnings("ignore")
    found = {
        "queries": queries(arguments.devices),
        "small_pools": small_pools(arguments.devices),
        "active_fit": active_fits(arguments.devices),
        "stopped": stopped(arguments.devices, arguments.output / "stopped-run"),
        # Process 0 writes the run folder; the others return without waiting for its last write.
        "saved_steps": [],
        "unseeded": unseeded(arguments.devices),
        "diverged": diverged(arguments.devices),
    }
    rank = int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", "0")))
    if rank == 0:
        found["saved_steps"] = [json.loads((arguments.output / "stopped-run" / "state.json").read_text())["step"]]
    arguments.output.mkdir(parents=True, exist_ok=True)
    (arguments.output / f"rank{rank}.json").write_text(json.dumps(found, indent=1))
    # Without this, a process sometimes aborted at interpreter exit after its work was done
    # ("terminate called without an active exception", exit status -6), failing the test.
    if torch.distributed.is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
