"""Peak memory of scoring a large pool, against the memory that every model output would take.

Each case runs in its own subprocess, so that its peak is its own:

- ``entropy``: ``trainer.query(EntropyStrategy(model), datamodule, query_size)``,
  one deterministic pass, logits of shape ``(N, C)``;
- ``bald``: the same with ``BALDStrategy(model, num_samples=T)``, ``T`` Monte
  Carlo dropout passes per item, logits of shape ``(N, T, C)``;
- ``plain-logits``: a check of the measurement. A plain loop under
  ``torch.inference_mode()`` keeps every batch's logits, concatenates them,
  and takes the top-k of their entropy, so its growth should be at least
  ``N * C * 4`` bytes.

A subprocess first builds the pool, a ``TensorDataset`` of ``N`` float32
inputs of width ``--features`` and int64 targets. It builds the model, an
``energizer.models.MLPClassifier`` with dropout, and the ``ActiveDataModule``.
It runs one untimed query on a small data module of ``--warmup-size`` items,
so that lazy imports and first-call allocations are done. Then it collects
garbage, reads ``VmRSS`` from ``/proc/self/status``, resets the peak
(``VmHWM``) by writing 5 to ``/proc/self/clear_refs``, and runs the query.
The growth is the ``VmHWM`` after the query minus the ``VmRSS`` before it.
The time is the wall time of the query alone (``time.perf_counter``).

Each case runs twice: with glibc's default ``malloc`` settings, and with
``MALLOC_MMAP_THRESHOLD_`` set to ``--mmap-threshold`` bytes. By default
glibc raises its mmap threshold to the size of each larger mapped block that
is freed (mallopt(3), glibc 2.36), so later large tensors come from the heap.
Memory freed there stays in the process, and the peak then also counts freed
memory that the heap could not reuse. A fixed threshold puts every block
above it in its own mapping, which is returned on free, so that run's growth
is closer to the memory actually in use.

The table compares the growth with ``N * C * 4`` bytes (float32 logits of
every pool item) and ``N * T * C * 4`` bytes (the Monte Carlo logits). It needs
Linux with glibc, for ``/proc/self/clear_refs`` and ``MALLOC_MMAP_THRESHOLD_``.

    .venv/bin/python benchmarks/pool_memory.py
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import platform
import subprocess
import sys
import time
import warnings

CASES = ("entropy", "bald", "plain-logits")


def load_average() -> str:
    """Return the 1, 5 and 15 minute load averages from ``/proc/loadavg``."""
    with open("/proc/loadavg") as file:
        return " ".join(file.read().split()[:3])


def read_status_kib(field: str) -> int:
    """Return a ``kB`` field of ``/proc/self/status``, such as ``VmRSS`` or ``VmHWM``."""
    with open("/proc/self/status") as file:
        for line in file:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"/proc/self/status has no {field} field. Run this script on Linux.")


def reset_peak_rss() -> None:
    """Set the process's peak resident set size (``VmHWM``) to its current size."""
    with open("/proc/self/clear_refs", "w") as file:
        file.write("5")


def run_case(config: dict) -> dict:
    """Build the pool and the model, then measure one query of ``config["case"]``.

    Returns the case, the pool size, the query's seconds, and the RSS before
    the query and its peak growth during it, both in MiB.
    """
    import torch
    from torch.utils.data import DataLoader, Subset, TensorDataset

    import energizer
    from energizer.models import MLPClassifier
    from energizer.query_strategies import BALDStrategy, EntropyStrategy

    torch.set_num_threads(config["threads"])
    warnings.filterwarnings("ignore", message=".*does not have many workers.*")
    logging.getLogger("lightning.pytorch").setLevel(logging.WARNING)

    num_items = config["pool_size"] + config["labelled"]
    generator = torch.Generator().manual_seed(config["seed"])
    dataset = TensorDataset(
        torch.randn(num_items, config["features"], generator=generator),
        torch.randint(0, config["classes"], (num_items,), generator=generator),
    )
    warmup_dataset = TensorDataset(*(tensor[: config["warmup_size"]] for tensor in dataset.tensors))
    torch.manual_seed(config["seed"])
    hidden_sizes = [int(width) for width in config["hidden_sizes"].split(",")]
    model = MLPClassifier(
        config["features"], config["classes"], hidden_sizes=hidden_sizes, dropout=0.25
    )

    def datamodule_over(data: TensorDataset, labelled: int) -> energizer.ActiveDataModule:
        return energizer.ActiveDataModule(
            data,
            initial_labels=labelled or None,
            batch_size=config["batch_size"],
            eval_batch_size=config["batch_size"],
            seed=config["seed"],
        )

    datamodule = datamodule_over(dataset, config["labelled"])
    warmup_datamodule = datamodule_over(warmup_dataset, 0)
    pool_ids = datamodule.pool_ids

    if config["case"] == "plain-logits":
        model.eval()

        def query(data: TensorDataset, ids: object) -> None:
            loader = DataLoader(Subset(data, ids.tolist()), batch_size=config["batch_size"])
            with torch.inference_mode():
                logits = torch.cat([model(inputs) for inputs, _ in loader])
                log_probs = torch.log_softmax(logits, dim=1)
                scores = -(log_probs.exp() * log_probs).sum(dim=1)
                torch.topk(scores, min(config["query_size"], len(scores)))

        def run(module: energizer.ActiveDataModule) -> None:
            query(module.train_dataset, module.pool_ids)

    else:
        if config["case"] == "entropy":
            strategy = EntropyStrategy(model, seed=config["seed"])
        else:
            strategy = BALDStrategy(model, num_samples=config["num_samples"], seed=config["seed"])
        trainer = energizer.Trainer(
            accelerator="cpu",
            devices=1,
            logger=False,
            enable_checkpointing=False,
            enable_progress_bar=False,
            enable_model_summary=False,
        )

        def run(module: energizer.ActiveDataModule) -> None:
            trainer.query(strategy, module, min(config["query_size"], module.num_unlabelled))

    run(warmup_datamodule)
    del warmup_datamodule, warmup_dataset
    gc.collect()
    before_kib = read_status_kib("VmRSS")
    reset_peak_rss()
    started = time.perf_counter()
    run(datamodule)
    seconds = time.perf_counter() - started
    peak_kib = read_status_kib("VmHWM")
    return {
        "case": config["case"],
        "pool_size": int(pool_ids.size),
        "seconds": seconds,
        "before_mib": before_kib / 1024,
        "growth_mib": (peak_kib - before_kib) / 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--pool-size",
        type=int,
        default=1_000_000,
        help="unlabelled items scored (default: 1000000)",
    )
    parser.add_argument(
        "--labelled", type=int, default=1_000, help="labelled items, not scored (default: 1000)"
    )
    parser.add_argument("--features", type=int, default=16, help="input width D (default: 16)")
    parser.add_argument(
        "--classes", type=int, default=100, help="number of classes C (default: 100)"
    )
    parser.add_argument(
        "--hidden-sizes", default="64", help="comma-separated hidden layer widths (default: 64)"
    )
    parser.add_argument(
        "--num-samples", type=int, default=10, help="Monte Carlo samples T of bald (default: 10)"
    )
    parser.add_argument(
        "--batch-size", type=int, default=1024, help="pool batch size (default: 1024)"
    )
    parser.add_argument(
        "--query-size", type=int, default=1_000, help="items selected (default: 1000)"
    )
    parser.add_argument(
        "--warmup-size",
        type=int,
        default=2_000,
        help="items of the untimed warm-up query (default: 2000)",
    )
    parser.add_argument(
        "--cases",
        default=",".join(CASES),
        help=f"comma-separated cases from {', '.join(CASES)} (default: all)",
    )
    parser.add_argument(
        "--mmap-threshold",
        type=int,
        default=262_144,
        help="MALLOC_MMAP_THRESHOLD_ in bytes for the second run of each case, 0 to skip that run "
        "(default: 262144)",
    )
    parser.add_argument(
        "--threads", type=int, default=1, help="torch.set_num_threads in each case (default: 1)"
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="seed of the data and the weights (default: 0)"
    )
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker is not None:
        print(json.dumps(run_case(json.loads(args.worker))))
        return
    cases = [name.strip() for name in args.cases.split(",") if name.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        parser.error(
            f"argument --cases: unknown {', '.join(unknown)}; choose from {', '.join(CASES)}"
        )

    import lightning
    import torch

    print(
        f"python {platform.python_version()}, torch {torch.__version__}, "
        f"lightning {lightning.__version__}, "
        f"torch threads {args.threads} per case"
    )
    print(
        f"pool {args.pool_size} items, D={args.features}, C={args.classes}, "
        f"hidden {args.hidden_sizes}, "
        f"T={args.num_samples}, batch size {args.batch_size}, query size {args.query_size}"
    )
    print(f"load average at start: {load_average()}")
    config = {name: value for name, value in vars(args).items() if name not in ("worker", "cases")}
    environment = {
        name: value for name, value in os.environ.items() if name != "MALLOC_MMAP_THRESHOLD_"
    }
    variants = {"default": environment}
    if args.mmap_threshold > 0:
        variants[f"mmap threshold {args.mmap_threshold}"] = {
            **environment,
            "MALLOC_MMAP_THRESHOLD_": str(args.mmap_threshold),
        }
    rows = []
    for case in cases:
        for malloc, env in variants.items():
            completed = subprocess.run(
                [sys.executable, __file__, "--worker", json.dumps({**config, "case": case})],
                capture_output=True,
                text=True,
                env=env,
            )
            if completed.returncode != 0:
                raise RuntimeError(f"case {case} ({malloc}) failed:\n{completed.stderr[-3000:]}")
            rows.append({**json.loads(completed.stdout.strip().splitlines()[-1]), "malloc": malloc})
            print(f"load average after {case} ({malloc}): {load_average()}")

    print()
    print(
        "| case | malloc | query s | items/s | RSS before MiB | peak growth MiB | all outputs MiB "
        "| growth / all outputs |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for row in rows:
        samples = args.num_samples if row["case"] == "bald" else 1
        outputs_mib = row["pool_size"] * samples * args.classes * 4 / 2**20
        print(
            f"| {row['case']} | {row['malloc']} | {row['seconds']:.2f} | "
            f"{row['pool_size'] / row['seconds']:,.0f} | {row['before_mib']:.0f} | "
            f"{row['growth_mib']:.1f} | {outputs_mib:,.0f} | "
            f"{row['growth_mib'] / outputs_mib:.3f} |"
        )


if __name__ == "__main__":
    main()
