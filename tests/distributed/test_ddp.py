"""Active learning under real two- and three-process DDP on CPU queries the same ids as one process.

Each process count runs ``ddp_run.py`` as its own subprocess, so that ports
and process groups never leak between runs or into the pytest process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).with_name("ddp_run.py")
# Variables that a launcher sets. Inherited ones would make the script join another run's group.
LAUNCH_VARIABLES = ("MASTER_ADDR", "MASTER_PORT", "RANK", "LOCAL_RANK", "WORLD_SIZE", "NODE_RANK", "GROUP_RANK")


def run_script(devices: int, output: Path) -> list[dict[str, Any]]:
    """Run the script with ``devices`` processes and return each rank's results, rank 0 first."""
    env = {name: value for name, value in os.environ.items() if name not in LAUNCH_VARIABLES}
    completed = subprocess.run(
        [sys.executable, str(SCRIPT), "--devices", str(devices), "--output", str(output)],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if completed.returncode != 0:
        # Lightning prints tips and device lines on every start, so keep the lines that explain the failure.
        lines = [line for line in completed.stderr.splitlines() if "Tip:" not in line and "available:" not in line]
        pytest.fail(f"{devices} processes exited with {completed.returncode}:\n" + "\n".join(lines[-80:]))
    return [json.loads((output / f"rank{rank}.json").read_text()) for rank in range(devices)]


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[int, list[dict[str, Any]]]:
    return {devices: run_script(devices, tmp_path_factory.mktemp(f"ddp{devices}")) for devices in (1, 2, 3)}


@pytest.mark.parametrize("devices", [2, 3])
def test_ranks_have_same_results(runs, devices):
    first, *others = runs[devices]
    for other in others:
        assert {**other, "saved_steps": None} == {**first, "saved_steps": None}
    assert len(others) == devices - 1


@pytest.mark.parametrize("devices", [2, 3])
@pytest.mark.parametrize("section", ["queries", "small_pools"])
def test_queries_match_one_process(runs, devices, section):
    one_process = runs[1][0][section]
    distributed = runs[devices][0][section]
    assert distributed.keys() == one_process.keys()
    for name, ids in one_process.items():
        assert distributed[name] == ids, name


@pytest.mark.parametrize("devices", [2, 3])
def test_active_fit_matches_one_process(runs, devices):
    one_process = runs[1][0]["active_fit"]
    distributed = runs[devices][0]["active_fit"]
    for name, run in one_process.items():
        assert distributed[name]["queried"] == run["queried"], name
        assert distributed[name]["label_rounds"] == run["label_rounds"], name
        assert distributed[name]["validation"] == run["validation"], name
        assert len(run["queried"]) == 3 and all(len(ids) == 5 for ids in run["queried"][:2])


def test_every_registered_strategy_is_compared(runs):
    from energizer.query_strategies.registry import STRATEGIES

    assert set(STRATEGIES) <= set(runs[1][0]["queries"])


@pytest.mark.parametrize("devices", [2, 3])
def test_unseeded_draws_are_shared(runs, devices):
    # Initial labels and random queries drawn without a seed: every process
    # trains on and labels process 0's draws (compared across ranks above),
    # and the labelled set grows by the query size each round.
    run = runs[devices][0]["unseeded"]
    labelled = sum(round_ >= 0 for round_ in run["label_rounds"])
    assert labelled == 6 + 4
    assert len(run["entropy"]) == 3


@pytest.mark.parametrize("devices", [2, 3])
def test_query_rejects_diverged_labels(runs, devices):
    assert runs[1][0]["diverged"] == "no error"
    for rank_results in runs[devices]:
        assert "processes of this distributed run hold different labelled items" in rank_results["diverged"]
        assert "Give ActiveDataModule a seed" in rank_results["diverged"]


@pytest.mark.parametrize("devices", [2, 3])
def test_stopping_criteria_match_one_process(runs, devices):
    one_process = runs[1][0]["stopped"]

    assert runs[devices][0]["stopped"] == one_process
    assert one_process["stop_reason"] == "stable_predictions"
    assert "37 stop-set items" in one_process["stop_message"]
    assert len(one_process["queried"]) == 3
    # Process 0 saved the run in its folder: step 0, then one step per round.
    assert runs[devices][0]["saved_steps"] == runs[1][0]["saved_steps"] == [3]
