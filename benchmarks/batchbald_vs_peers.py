"""Compare energizer's batch_bald with the BatchBALD of baal and of scikit-activeml.

All methods run on the same seeded Monte Carlo probabilities (the logits passed to
energizer are their logs). Each run is a fresh subprocess under a virtual memory limit
(RLIMIT_AS), so its peak resident memory is its own, and a method that exceeds the limit
is reported as out of memory instead of exhausting the machine. Every selected batch is
then scored with the same estimate of its joint mutual information ``I(y_batch; w)``,
computed here with numpy and independent of all three implementations.

Set up the environment as described in benchmarks/README.md, then run for example:

    .venv-bench/bin/python benchmarks/batchbald_vs_peers.py --sizes 500:5 --repeats 1

docs/benchmarks.md lists the commands behind the recorded results. With baal, N = 5,000
takes several minutes per run and about 12 GB of memory.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = ("energizer", "energizer-passive", "baal", "skactiveml")
# Extra environment of each method's subprocess. "energizer-passive" is energizer with
# libgomp's threads sleeping instead of spinning while they wait (OMP_WAIT_POLICY), which
# matters when other processes keep the cores busy. baal and scikit-activeml do their
# heavy work in numpy, whose OpenBLAS threads do not use OpenMP.
METHOD_ENVIRONMENTS = {"energizer-passive": {"OMP_WAIT_POLICY": "PASSIVE"}}
DEFAULT_SIZES = "2000:10,5000:10,10000:10,10000:50"


# --- data ---------------------------------------------------------------------------


def make_probabilities(num_items: int, num_mc_samples: int, num_classes: int, seed: int):
    """Draw MC class probabilities of shape (N, T, C) from a hierarchical Dirichlet model.

    Each item has a mean class distribution from Dirichlet(0.5) and a concentration drawn
    log-uniformly from [1, 1000]. Each of its T samples is drawn from
    Dirichlet(concentration * mean), so items range from samples that agree (low
    epistemic uncertainty) to samples that disagree strongly. Probabilities are floored
    at 1e-8 and renormalised, so every logit is finite.
    """
    rng = np.random.default_rng(seed)
    means = rng.dirichlet(np.full(num_classes, 0.5), size=num_items)
    concentration = np.exp(rng.uniform(np.log(1.0), np.log(1000.0), size=num_items))
    alpha = np.maximum(concentration[:, None] * means, 1e-3)
    gamma = rng.standard_gamma(alpha[:, None, :], size=(num_items, num_mc_samples, num_classes))
    probs = gamma / gamma.sum(axis=-1, keepdims=True)
    probs = np.maximum(probs, 1e-8)
    probs /= probs.sum(axis=-1, keepdims=True)
    return probs.astype(np.float32)


# --- shared joint mutual information estimate ----------------------------------------


def joint_mutual_information(probs: np.ndarray, batch: list[int], num_samples: int, seed: int):
    """Estimate ``I(y_batch; w)`` in nats and return it with its standard error.

    ``I = H(y_batch) - sum_j E_w H(y_j | w)``. The second term is exact. ``H(y_batch)`` is
    exact by enumeration when the batch has at most ``num_samples`` class
    configurations. Otherwise it is the Monte Carlo mean of ``-log p(y_batch)`` over
    ``num_samples`` configurations drawn from ``p(y_batch)`` (draw ``w`` uniformly, then
    each label from ``p(y_j | w)``).
    """
    probs = probs[batch].astype(np.float64)
    size, num_mc_samples, num_classes = probs.shape
    log_probs = np.log(probs)
    conditional = float(-(probs * log_probs).sum() / num_mc_samples)

    if num_classes**size <= num_samples:
        configs = np.array(list(itertools.product(range(num_classes), repeat=size)))
        log_joint = np.zeros((len(configs), num_mc_samples))
        for j in range(size):
            log_joint += log_probs[j][:, configs[:, j]].T
        p = np.exp(log_joint).mean(axis=1)
        return float(-(p * np.log(p)).sum()) - conditional, 0.0

    rng = np.random.default_rng(seed)
    sampled_w = rng.integers(num_mc_samples, size=num_samples)
    log_joint = np.zeros((num_samples, num_mc_samples))
    for j in range(size):
        cdf = np.cumsum(probs[j][sampled_w], axis=1)
        uniform = rng.random((num_samples, 1)) * cdf[:, -1:]
        labels = np.minimum((cdf < uniform).sum(axis=1), num_classes - 1)
        log_joint += log_probs[j][:, labels].T
    peak = log_joint.max(axis=1, keepdims=True)
    log_marginal = peak[:, 0] + np.log(np.exp(log_joint - peak).mean(axis=1))
    entropy = -log_marginal.mean()
    standard_error = log_marginal.std(ddof=1) / np.sqrt(num_samples)
    return float(entropy - conditional), float(standard_error)


# --- one method in one subprocess ----------------------------------------------------


def run_worker(method: str, probs_path: str, query_size: int, num_configs: int, seed: int):
    """Select one batch with ``method`` and print a JSON record to stdout."""
    probs = np.load(probs_path)
    num_mc_samples = probs.shape[1]
    if method == "energizer":
        import torch

        from energizer.acquisition.batch_bald import batch_bald

        logits = torch.from_numpy(np.log(probs))

        def select():
            return batch_bald(logits, query_size, num_samples=num_configs, seed=seed).tolist()

    elif method == "baal":
        from baal.active.heuristics import BatchBALD

        # baal expects [N, C, T], and its num_samples is the query size. It starts from the
        # top BALD item, adds num_samples more and ranks them by their step scores, so the
        # batch is the top query_size of the ranking. Each step draws num_draw labels per
        # MC sample for each chosen item, which gives T * num_draw configurations.
        predictions = np.ascontiguousarray(probs.transpose(0, 2, 1))
        heuristic = BatchBALD(num_samples=query_size, num_draw=num_configs // num_mc_samples)

        def select():
            return [int(i) for i in heuristic(predictions)[:query_size]]

    elif method == "skactiveml":
        from skactiveml.pool import batch_bald
        from skactiveml.utils import rand_argmax

        # scikit-activeml expects (T, N, C) and clips it in place, so it gets a copy.
        probas = np.ascontiguousarray(probs.transpose(1, 0, 2))

        def select():
            utilities = batch_bald(
                probas.copy(), query_size, n_MC_samples=num_configs, random_state=seed
            )
            # Same rule as its own selection loop: row n is step n's utilities, with NaN
            # for the items already chosen.
            return [int(rand_argmax(row, random_state=0)[0]) for row in utilities]

    else:
        raise ValueError(f"Invalid method {method!r}: expected one of {METHODS}.")

    baseline_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    batch = select()
    seconds = time.perf_counter() - start
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    record = {"batch": batch, "seconds": seconds, "peak_mib": peak_kib / 1024}
    record["baseline_mib"] = baseline_kib / 1024
    print(json.dumps(record))


def run_method(args, method: str, probs_path: str, query_size: int) -> dict:
    """Run one selection in a fresh subprocess under the memory limit."""
    limit = int(args.memory_limit_gib * 2**30)

    def limit_memory():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    worker = "energizer" if method.startswith("energizer") else method
    command = [sys.executable, __file__, "--worker", worker, "--probs", probs_path]
    command += ["--query-size", str(query_size), "--num-configs", str(args.num_configs)]
    command += ["--seed", str(args.seed)]
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            text=True,
            preexec_fn=limit_memory,
            timeout=args.timeout,
            env={**os.environ, **METHOD_ENVIRONMENTS.get(method, {})},
        )
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {args.timeout} s"}
    if completed.returncode == 0:
        return json.loads(completed.stdout.strip().splitlines()[-1])

    output = completed.stderr
    out_of_memory = "MemoryError" in output or "can't allocate memory" in output
    if out_of_memory or completed.returncode == -9:
        return {"error": "out of memory"}
    last_line = output.strip().splitlines()[-1] if output.strip() else ""
    return {"error": f"failed with exit code {completed.returncode}: {last_line}"}


# --- driver -------------------------------------------------------------------------


def parse_sizes(text: str) -> list[tuple[int, int, tuple[str, ...]]]:
    """Parse ``N:k`` or ``N:k:method+method`` items separated by commas."""
    sizes = []
    for item in text.split(","):
        parts = item.split(":")
        methods = tuple(parts[2].split("+")) if len(parts) > 2 else METHODS
        sizes.append((int(parts[0]), int(parts[1]), methods))
    return sizes


def describe_machine() -> str:
    model = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = []
    for name in ("torch", "numpy", "baal", "scikit-activeml"):
        try:
            from importlib.metadata import version

            versions.append(f"{name} {version(name)}")
        except Exception:  # noqa: BLE001 - a missing package is reported, not fatal
            versions.append(f"{name} not installed")
    return f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()}, " + ", ".join(
        versions
    )


def format_row(row: dict) -> str:
    if "error" in row:
        return f"| {row['N']} | {row['k']} | {row['method']} | {row['error']} | | | | |"
    ratios = []
    for key in ("ratio", "ratio_passive"):
        ratios.append(f"{row[key]:.1f}x" if key in row else "-")
    mi = f"{row['mi']:.3f} ± {row['mi_se']:.3f}"
    return (
        f"| {row['N']} | {row['k']} | {row['method']} | {row['seconds']:.2f} | {ratios[0]}"
        f" | {ratios[1]} | {row['peak_mib']:.0f} ({row['baseline_mib']:.0f}) | {mi} |"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes",
        default=DEFAULT_SIZES,
        help="Comma-separated N:k pairs (pool size and query size), optionally N:k:m1+m2"
        f" to run only methods m1 and m2 (default: {DEFAULT_SIZES}).",
    )
    parser.add_argument("--methods", default=",".join(METHODS), help="Methods to run.")
    parser.add_argument("--repeats", type=int, default=3, help="Runs per method. The table shows the median time.")
    parser.add_argument("--num-classes", type=int, default=10, help="Classes C (default: 10).")
    parser.add_argument("--num-mc-samples", type=int, default=20, help="MC samples T (default: 20).")
    parser.add_argument(
        "--num-configs",
        type=int,
        default=10_000,
        help="Class configurations per step for every method (default: 10,000).",
    )
    parser.add_argument(
        "--mi-samples",
        type=int,
        default=100_000,
        help="Configurations of the shared joint mutual information estimate (default: 100,000).",
    )
    parser.add_argument(
        "--memory-limit-gib",
        type=float,
        default=16.0,
        help="Virtual memory limit of each run in GiB (default: 16).",
    )
    parser.add_argument("--timeout", type=float, default=1800.0, help="Seconds allowed per run.")
    parser.add_argument("--seed", type=int, default=0, help="Seed of the data and the samplers.")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    parser.add_argument("--probs", help=argparse.SUPPRESS)
    parser.add_argument("--query-size", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        run_worker(args.worker, args.probs, args.query_size, args.num_configs, args.seed)
        return

    selected_methods = set(args.methods.split(","))
    print(describe_machine())
    print(
        f"C={args.num_classes}, T={args.num_mc_samples}, {args.num_configs} configurations,"
        f" memory limit {args.memory_limit_gib:g} GiB, {args.repeats} runs per method,"
        f" joint MI from {args.mi_samples} configurations"
    )
    print()
    print(
        "| N | k | method | time (s) | time / energizer | time / energizer-passive"
        " | peak RSS MiB (before call) | joint MI (nats) ± s.e. |"
    )
    print("|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for num_items, query_size, size_methods in parse_sizes(args.sizes):
            probs = make_probabilities(num_items, args.num_mc_samples, args.num_classes, args.seed)
            probs_path = os.path.join(folder, f"probs_{num_items}.npy")
            np.save(probs_path, probs)
            our_seconds = {}
            for method in METHODS:
                if method not in selected_methods or method not in size_methods:
                    continue
                row = {"N": num_items, "k": query_size, "method": method}
                runs = []
                for _ in range(args.repeats):
                    runs.append(run_method(args, method, probs_path, query_size))
                    if "error" in runs[-1]:
                        break
                if "error" in runs[-1]:
                    row["error"] = runs[-1]["error"]
                else:
                    row["all_seconds"] = [run["seconds"] for run in runs]
                    row["seconds"] = statistics.median(run["seconds"] for run in runs)
                    row["peak_mib"] = max(run["peak_mib"] for run in runs)
                    row["baseline_mib"] = max(run["baseline_mib"] for run in runs)
                    batch = runs[0]["batch"]
                    row["mi"], row["mi_se"] = joint_mutual_information(
                        probs, batch, args.mi_samples, args.seed + 1
                    )
                    if method.startswith("energizer"):
                        our_seconds[method] = row["seconds"]
                    else:
                        for ours, key in (("energizer", "ratio"), ("energizer-passive", "ratio_passive")):
                            if ours in our_seconds:
                                row[key] = row["seconds"] / our_seconds[ours]
                    row["batch"] = batch
                print(format_row(row), flush=True)
                print(f"<!-- {json.dumps(row)} -->", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
