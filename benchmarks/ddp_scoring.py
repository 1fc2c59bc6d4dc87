"""Pool scoring under Lightning DDP on CPU: 2 processes against 1.

Both sides score the same synthetic pool with the same model (an
``energizer.models.MLPClassifier`` with seeded weights) through
``trainer.query(EntropyStrategy(model), datamodule, query_size)``:

- ``1 process``: ``energizer.Trainer(accelerator="cpu", devices=1)``, the
  ordinary single-process run;
- ``2 processes``: ``energizer.Trainer(accelerator="cpu", devices=2,
  strategy="ddp")``. Each process scores its share of the pool, the scores
  are gathered on every process, and process 0's choice is broadcast.

Each side runs in its own subprocess (a worker). Lightning's DDP starts the
second process by running this script again with the same arguments, so
every process builds the same data, model and data module, and only process
0 (``trainer.global_rank == 0``) prints. A worker runs one untimed warm-up
query, which starts the processes and connects them, then ``--queries``
timed queries. Before each timed query the processes meet at
``trainer.strategy.barrier()``, and process 0 times the call with
``time.perf_counter``. The call returns only after the broadcast of the
chosen ids, so the time includes the slower process, the gathering of the
scores and the selection. The warm-up time is printed too.

The two workers alternate, the first one switching from one repeat to the
next. A repeat's speed-up is the 1-process median divided by the
2-process median. The script prints the median and the range of those
speed-ups and checks that both sides chose the same items. Every process
sets ``torch.set_num_threads(--threads)``, 1 by default, so that 2
processes use 2 cores.

    .venv/bin/python benchmarks/ddp_scoring.py
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages from ``/proc/loadavg``."""
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


def run_worker(config: dict) -> None:
    """Score the pool on ``config["devices"]`` processes. Process 0 prints the times as JSON."""
    import torch
    from torch.utils.data import TensorDataset

    import energizer
    from energizer.models import MLPClassifier
    from energizer.query_strategies import EntropyStrategy

    torch.set_num_threads(config["threads"])
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)

    num_items = config["pool_size"] + config["labelled"]
    generator = torch.Generator().manual_seed(config["seed"])
    dataset = TensorDataset(
        torch.randn(num_items, config["features"], generator=generator),
        torch.randint(0, config["classes"], (num_items,), generator=generator),
    )
    torch.manual_seed(config["seed"])
    hidden_sizes = [int(width) for width in config["hidden_sizes"].split(",")]
    model = MLPClassifier(config["features"], config["classes"], hidden_sizes=hidden_sizes)
    datamodule = energizer.ActiveDataModule(
        dataset,
        initial_labels=config["labelled"] or None,
        batch_size=config["batch_size"],
        eval_batch_size=config["batch_size"],
        seed=config["seed"],
    )
    strategy = EntropyStrategy(model, seed=config["seed"])
    devices = config["devices"]
    trainer = energizer.Trainer(
        accelerator="cpu",
        devices=devices,
        strategy="ddp" if devices > 1 else "auto",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )

    started = time.perf_counter()
    chosen = trainer.query(strategy, datamodule, config["query_size"])
    warmup_seconds = time.perf_counter() - started
    seconds = []
    for _ in range(config["queries"]):
        trainer.strategy.barrier()
        started = time.perf_counter()
        trainer.query(strategy, datamodule, config["query_size"])
        seconds.append(time.perf_counter() - started)
    if trainer.global_rank == 0:
        result = {
            "devices": devices,
            "world_size": trainer.world_size,
            "pool_size": datamodule.num_unlabelled,
            "warmup_seconds": warmup_seconds,
            "seconds": seconds,
            "chosen": sorted(int(dataset_id) for dataset_id in chosen),
        }
        print(json.dumps(result), flush=True)


def launch(config: dict, devices: int) -> dict:
    """Run one worker in a fresh interpreter and return process 0's result."""
    # Lightning's DDP processes connect over the loopback address only.
    env = {**os.environ, "MASTER_ADDR": "127.0.0.1"}
    completed = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps({**config, "devices": devices})],
        capture_output=True,
        text=True,
        env=env,
        timeout=config["timeout"],
    )
    if completed.returncode != 0:
        raise RuntimeError(
            f"the worker with {devices} processes failed:\n{completed.stderr[-3000:]}"
        )
    lines = [line for line in completed.stdout.splitlines() if line.startswith("{")]
    if not lines:
        raise RuntimeError(
            f"the worker with {devices} processes printed no result:\n{completed.stderr[-3000:]}"
        )
    return json.loads(lines[-1])


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
        "--batch-size", type=int, default=256, help="pool batch size (default: 256)"
    )
    parser.add_argument(
        "--query-size", type=int, default=1_000, help="items selected (default: 1000)"
    )
    parser.add_argument(
        "--queries", type=int, default=3, help="timed queries per worker (default: 3)"
    )
    parser.add_argument("--repeats", type=int, default=3, help="workers of each side (default: 3)")
    parser.add_argument(
        "--threads", type=int, default=1, help="torch.set_num_threads per process (default: 1)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the data and the weights (default: 0)"
    )
    parser.add_argument(
        "--timeout", type=float, default=600.0, help="seconds allowed per worker (default: 600)"
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker is not None:
        run_worker(json.loads(args.worker))
        return

    import lightning
    import torch

    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"lightning {lightning.__version__}, "
        f"torch threads {args.threads} per process"
    )
    print(
        f"pool {args.pool_size} items, D={args.features}, C={args.classes}, "
        f"hidden {args.hidden_sizes}, "
        f"batch size {args.batch_size}, query size {args.query_size}, "
        f"{args.repeats} workers per side, {args.queries} timed queries each"
    )
    print(f"load average at start: {load_average()}")
    config = {name: value for name, value in vars(args).items() if name != "worker"}
    results: dict[int, list[dict]] = {1: [], 2: []}
    for repeat in range(args.repeats):
        order = (1, 2) if repeat % 2 == 0 else (2, 1)
        for devices in order:
            results[devices].append(launch(config, devices))
        print(f"load average after repeat {repeat + 1}: {load_average()}")

    chosen = {tuple(result["chosen"]) for side in results.values() for result in side}
    print(f"same selected items on both sides and every worker: {len(chosen) == 1}")
    medians = {
        devices: [statistics.median(result["seconds"]) for result in side]
        for devices, side in results.items()
    }
    speedups = [single / double for single, double in zip(medians[1], medians[2], strict=True)]
    print()
    print(
        "| side | median s | min-max s | warm-up query s, median "
        "| speed-up over 1 process, median (min-max) |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for devices, side in results.items():
        times = [seconds for result in side for seconds in result["seconds"]]
        warmup = statistics.median(result["warmup_seconds"] for result in side)
        if devices == 1:
            speedup = "-"
        else:
            speedup = f"{statistics.median(speedups):.2f} ({min(speedups):.2f}-{max(speedups):.2f})"
        print(
            f"| {devices} process{'es' if devices > 1 else ''} | {statistics.median(times):.3f} | "
            f"{min(times):.3f}-{max(times):.3f} | {warmup:.2f} | {speedup} |"
        )


if __name__ == "__main__":
    main()
