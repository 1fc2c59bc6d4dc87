"""Time and memory of greedy k-center (coreset) selection, energizer against its peers, and of BADGE.

Methods, all on the same seeded float32 embeddings:

- ``energizer``: ``energizer.diversity.k_center_greedy``;
- ``torch-plain``: a straightforward torch k-center written here, one pass
  over the pool per pick (the usual implementation);
- ``skactiveml``: scikit-activeml's ``CoreSet`` query;
- ``small-text``: small-text's ``greedy_coreset`` (Euclidean distances),
  only for ``--small-text-k`` picks, because it is far slower;
- ``energizer-badge``: ``energizer.diversity.kmeans_plus_plus`` on the
  factored gradient embeddings of ``--classes`` classes (BADGE's selection).

Each run is a fresh subprocess, so its peak resident memory (``ru_maxrss``,
which includes the Python interpreter, the imported libraries and the data)
is its own. The embeddings are a mixture of Gaussian clusters, like the
features of a trained network. ``--isotropic`` adds runs of energizer and
torch-plain on one isotropic Gaussian, where all distances are alike. Before timing, every k-center method's choice on a small input is
compared with a float64 brute-force reference written here.

Set up the environment as described in docs/benchmarks.md (Diversity), then:

    .venv-bench-diversity/bin/python benchmarks/diversity_selection.py

``--methods`` picks a subset. The defaults with ``--isotropic`` reproduce
the Diversity table in docs/benchmarks.md; they took 10 to 30 minutes on 2
CPU cores shared with other jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

import numpy as np

K_CENTER_METHODS = ("energizer", "torch-plain", "skactiveml", "small-text")
METHODS = (*K_CENTER_METHODS, "badge")


# --- data ---------------------------------------------------------------------------


def make_embeddings(num_points: int, width: int, seed: int, isotropic: bool) -> np.ndarray:
    """Draw float32 embeddings: 100 Gaussian clusters of random spread, or one isotropic Gaussian."""
    rng = np.random.default_rng(seed)
    if isotropic:
        return rng.standard_normal((num_points, width), dtype=np.float32)
    means = 3.0 * rng.standard_normal((100, width), dtype=np.float32)
    scales = rng.uniform(0.2, 1.7, size=100).astype(np.float32)
    cluster = rng.integers(0, 100, size=num_points)
    points = rng.standard_normal((num_points, width), dtype=np.float32)
    # In place and in blocks, so building the data adds no second copy to the peak memory.
    for start in range(0, num_points, 8192):
        rows = slice(start, start + 8192)
        points[rows] *= scales[cluster[rows], None]
        points[rows] += means[cluster[rows]]
    return points


def split(config: dict) -> tuple[np.ndarray, np.ndarray]:
    """Return the pool and the labelled embeddings of a configuration."""
    total = config["size"] + config["labelled"]
    points = make_embeddings(total, config["width"], config["seed"], config["isotropic"])
    return points[: config["size"]], points[config["size"] :]


# --- the k-center methods -----------------------------------------------------------


def run_energizer(pool: np.ndarray, labelled: np.ndarray, k: int) -> list[int]:
    import torch

    from energizer.diversity import k_center_greedy

    return k_center_greedy(torch.from_numpy(pool), k, centers=torch.from_numpy(labelled)).tolist()


def run_torch_plain(pool: np.ndarray, labelled: np.ndarray, k: int) -> list[int]:
    """Greedy k-center as usually written: update every point's distance after each pick."""
    import torch

    points = torch.from_numpy(pool)
    centers = torch.from_numpy(labelled)
    norms = (points * points).sum(dim=1)
    nearest = torch.empty(points.shape[0])
    for start in range(0, points.shape[0], 8192):
        block = points[start : start + 8192]
        distances = norms[start : start + 8192, None] + (centers * centers).sum(dim=1) - 2 * block @ centers.T
        nearest[start : start + 8192] = distances.amin(dim=1)
    chosen = []
    for _ in range(k):
        position = int(torch.argmax(nearest))
        chosen.append(position)
        distances = norms + norms[position] - 2 * (points @ points[position])
        nearest = torch.minimum(nearest, distances)
        nearest[position] = -1.0
    return chosen


def run_skactiveml(pool: np.ndarray, labelled: np.ndarray, k: int) -> list[int]:
    from skactiveml.pool import CoreSet

    data = np.concatenate([pool, labelled])
    targets = np.full(data.shape[0], np.nan)
    targets[pool.shape[0] :] = 0.0
    chosen = CoreSet(random_state=0).query(data, targets, batch_size=k)
    return [int(position) for position in chosen]


def run_small_text(pool: np.ndarray, labelled: np.ndarray, k: int) -> list[int]:
    from small_text.query_strategies.coresets import greedy_coreset

    data = np.concatenate([pool, labelled])
    unlabelled = np.arange(pool.shape[0])
    known = np.arange(pool.shape[0], data.shape[0])
    chosen = greedy_coreset(data, unlabelled, known, k, distance_metric="euclidean")
    # greedy_coreset returns positions among the unlabelled indices.
    return [int(unlabelled[position]) for position in chosen]


def run_badge(pool: np.ndarray, k: int, num_classes: int, seed: int) -> list[int]:
    import torch

    from energizer.diversity import OuterProductPoints, kmeans_plus_plus
    from energizer.query_strategies.embeddings import gradient_embedding_factors

    generator = torch.Generator().manual_seed(seed)
    logits = 3.0 * torch.randn(pool.shape[0], num_classes, generator=generator)
    factors = gradient_embedding_factors(logits)
    points = OuterProductPoints(factors, torch.from_numpy(pool))
    return kmeans_plus_plus(points, k, seed=seed).tolist()


def brute_force_k_center(pool: np.ndarray, labelled: np.ndarray, k: int) -> list[int]:
    points = pool.astype(np.float64)
    centers = labelled.astype(np.float64)
    nearest = np.full(points.shape[0], np.inf)
    for center in centers:
        nearest = np.minimum(nearest, ((points - center) ** 2).sum(axis=1))
    chosen: list[int] = []
    for _ in range(k):
        candidates = nearest.copy()
        candidates[chosen] = -1.0
        position = int(np.argmax(candidates))
        chosen.append(position)
        nearest = np.minimum(nearest, ((points - points[position]) ** 2).sum(axis=1))
    return chosen


# --- one run in a subprocess --------------------------------------------------------


def worker(config: dict) -> dict:
    """Build the data, run one method on it, and return its time, peak memory and choice.

    The method's libraries are imported before this (see ``import_method``),
    so the time excludes imports and ``baseline_mb`` includes them.
    """
    pool, labelled = split(config)
    baseline_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    method = config["method"]
    started = time.perf_counter()
    if method == "energizer":
        chosen = run_energizer(pool, labelled, config["k"])
    elif method == "torch-plain":
        chosen = run_torch_plain(pool, labelled, config["k"])
    elif method == "skactiveml":
        chosen = run_skactiveml(pool, labelled, config["k"])
    elif method == "small-text":
        chosen = run_small_text(pool, labelled, config["k"])
    elif method == "energizer-badge":
        chosen = run_badge(pool, config["k"], config["classes"], config["seed"])
    elif method == "brute-force":
        chosen = brute_force_k_center(pool, labelled, config["k"])
    else:
        raise ValueError(f"unknown method {method!r}")
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "baseline_mb": baseline_mb,
        "chosen": chosen,
    }


def run_once(config: dict, timeout: float) -> dict:
    """Run one method in a fresh interpreter and return its time, memory and choice."""
    completed = subprocess.run(
        [sys.executable, __file__, "--worker", json.dumps(config)],
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if completed.returncode != 0:
        raise RuntimeError(f"{config['method']} failed:\n{completed.stderr[-3000:]}")
    return json.loads(completed.stdout.strip().splitlines()[-1])


def import_method(method: str) -> None:
    """Import a method's libraries, so that neither the timing nor the baseline memory misses them."""
    import torch  # noqa: F401

    if method in ("energizer", "energizer-badge"):
        import energizer.diversity  # noqa: F401
        import energizer.query_strategies.embeddings  # noqa: F401
    elif method == "skactiveml":
        import skactiveml.pool  # noqa: F401
    elif method == "small-text":
        import small_text.query_strategies.coresets  # noqa: F401


# --- driver -------------------------------------------------------------------------


def machine() -> dict:
    import torch

    model = "unknown"
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    versions = {"torch": torch.__version__, "numpy": np.__version__, "python": platform.python_version()}
    for name, module in (("scikit-activeml", "skactiveml"), ("small-text", "small_text")):
        try:
            versions[name] = __import__(module).__version__
        except ImportError:
            versions[name] = "not installed"
    return {"nproc": os.cpu_count(), "cpu": model, **versions}


def check_choices(args: argparse.Namespace) -> dict[str, bool]:
    """Compare each k-center method with the float64 brute force on a small input."""
    small = {"size": 2_000, "width": args.width, "labelled": 100, "k": 100, "seed": args.seed + 1, "isotropic": False}
    reference = run_once({**small, "method": "brute-force"}, args.timeout)["chosen"]
    same = {}
    for method in K_CENTER_METHODS:
        if method not in args.methods or (method == "small-text" and args.small_text_k == 0):
            continue
        config = {**small, "method": method}
        if method == "small-text":
            config["k"] = min(small["k"], args.small_text_k)
        chosen = run_once(config, args.timeout)["chosen"]
        same[method] = sorted(chosen) == sorted(reference[: config["k"]])
    return same


def measure(config: dict, repeats: int, timeout: float) -> dict:
    runs = [run_once(config, timeout) for _ in range(repeats)]
    return {
        "median_seconds": statistics.median(run["seconds"] for run in runs),
        "median_peak_mb": statistics.median(run["peak_mb"] for run in runs),
        "median_baseline_mb": statistics.median(run["baseline_mb"] for run in runs),
        "repeats": repeats,
        "seconds": [run["seconds"] for run in runs],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=100_000, help="pool embeddings (default: 100000)")
    parser.add_argument("--width", type=int, default=128, help="embedding width (default: 128)")
    parser.add_argument("--labelled", type=int, default=1_000, help="labelled embeddings (default: 1000)")
    parser.add_argument("--k", type=int, default=1_000, help="points to choose (default: 1000)")
    parser.add_argument("--classes", type=int, default=10, help="classes of BADGE's gradient embeddings (default: 10)")
    parser.add_argument("--repeats", type=int, default=7, help="runs per method, median reported (default: 7)")
    parser.add_argument("--small-text-k", type=int, default=10, help="picks for small-text, 0 to skip (default: 10)")
    parser.add_argument("--small-text-repeats", type=int, default=3, help="runs of small-text (default: 3)")
    parser.add_argument(
        "--isotropic", action="store_true", help="also time energizer and torch-plain on isotropic data"
    )
    parser.add_argument(
        "--methods",
        default=",".join(METHODS),
        help=f"comma-separated methods to run, from {', '.join(METHODS)} (default: all)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the data (default: 0)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds allowed per run (default: 900)")
    parser.add_argument("--output", default=None, help="write the results as JSON to this file")
    parser.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()

    if args.worker is not None:
        config = json.loads(args.worker)
        import_method(config["method"])
        print(json.dumps(worker(config)))
        return
    args.methods = [name.strip() for name in args.methods.split(",") if name.strip()]
    unknown = sorted(set(args.methods) - set(METHODS))
    if unknown:
        parser.error(f"argument --methods: unknown {', '.join(unknown)}; choose from {', '.join(METHODS)}")

    base = {"size": args.size, "width": args.width, "labelled": args.labelled, "k": args.k, "seed": args.seed}
    results: dict = {"machine": machine(), "command": " ".join([os.path.basename(sys.executable), *sys.argv])}
    results["date"] = time.strftime("%Y-%m-%d")
    results["same_as_brute_force"] = check_choices(args)
    rows = {}
    for method in ("energizer", "torch-plain", "skactiveml"):
        if method in args.methods:
            rows[method] = measure({**base, "method": method, "isotropic": False}, args.repeats, args.timeout)
    if args.small_text_k and "small-text" in args.methods:
        config = {**base, "k": args.small_text_k, "method": "small-text", "isotropic": False}
        rows[f"small-text (k={args.small_text_k})"] = measure(config, args.small_text_repeats, args.timeout)
    if "badge" in args.methods:
        config = {**base, "method": "energizer-badge", "isotropic": False, "classes": args.classes}
        rows[f"energizer BADGE (C={args.classes})"] = measure(config, args.repeats, args.timeout)
    if args.isotropic:
        for method in ("energizer", "torch-plain"):
            if method in args.methods:
                config = {**base, "method": method, "isotropic": True}
                rows[f"{method}, isotropic"] = measure(config, args.repeats, args.timeout)
    results["rows"] = rows

    # Ratios are against scikit-activeml, or against torch-plain when scikit-activeml did not run.
    reference_name = "skactiveml" if "skactiveml" in rows else "torch-plain"
    reference = rows[reference_name]["median_seconds"] if reference_name in rows else float("nan")
    print(json.dumps(results["machine"]))
    print(f"same chosen set as the brute force (N=2000, k=100): {results['same_as_brute_force']}")
    print(f"| method | median s | {reference_name} s / method s | peak MB | MB before selection | runs |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, row in rows.items():
        ratio = reference / row["median_seconds"]
        print(
            f"| {name} | {row['median_seconds']:.2f} | {ratio:.1f} | {row['median_peak_mb']:.0f} | "
            f"{row['median_baseline_mb']:.0f} | {row['repeats']} |"
        )
    if args.output:
        with open(args.output, "w") as output:
            json.dump(results, output, indent=2)


if __name__ == "__main__":
    main()
