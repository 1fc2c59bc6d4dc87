"""Runs killed with SIGKILL at several points resume to the results of a run never interrupted.

Each run is its own subprocess of ``resume_run.py``. The resumed process
starts from another global seed, so only the run directory can make it match.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from energizer.loop.run_dir import RunDirectory

SCRIPT = Path(__file__).with_name("resume_run.py")
VARIANTS = {
    "power-bald": [],
    "power-bald-keep-weights": ["--keep-weights"],
    "random-keep-weights": ["--strategy", "random", "--keep-weights"],
}


def run(variant: str, run_dir: Path, output: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), *VARIANTS[variant], "--run-dir", str(run_dir), "--output", str(output)]
    return subprocess.run([*command, *extra], capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The summary of each variant's run without a kill, by variant name (computed on first use)."""
    folder = tmp_path_factory.mktemp("uninterrupted")
    summaries: dict[str, dict] = {}

    def summary(variant: str) -> dict:
        if variant not in summaries:
            output = folder / f"{variant}.json"
            completed = run(variant, folder / variant, output)
            assert completed.returncode == 0, completed.stderr[-4000:]
            summaries[variant] = json.loads(output.read_text())
        return summaries[variant]

    return summary


@pytest.mark.parametrize(
    ("variant", "kill"),
    [
        ("power-bald", "fit"),
        ("power-bald", "score"),
        ("power-bald", "labelled"),
        ("power-bald-keep-weights", "score"),
        ("random-keep-weights", "fit"),
    ],
)
def test_killed_run_resumes_to_same_results(variant, kill, uninterrupted, tmp_path):
    expected = uninterrupted(variant)
    run_dir, output = tmp_path / "run", tmp_path / "summary.json"

    killed = run(variant, run_dir, output, "--kill", kill, "--kill-round", "1")

    assert killed.returncode == -signal.SIGKILL, killed.stderr[-4000:]
    assert not output.exists()
    saved = RunDirectory(run_dir).load()
    next_round = saved.state["next_round"]
    assert next_round == (2 if kill == "labelled" else 1)
    # No labelled item lost: every item labelled up to the saved step is saved with its round.
    rounds = np.asarray(expected["label_rounds"])
    assert saved.label_rounds.tolist() == np.where(rounds <= next_round, rounds, -1).tolist()

    resumed = run(variant, run_dir, output, "--resume")

    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert json.loads(output.read_text()) == expected


def test_ctrl_c_in_fit_then_resume(uninterrupted, tmp_path):
    expected = uninterrupted("power-bald")
    run_dir, output, marker = tmp_path / "run", tmp_path / "summary.json", tmp_path / "training"
    command = [sys.executable, str(SCRIPT), "--run-dir", str(run_dir), "--output", str(output)]
    process = subprocess.Popen(
        [*command, "--wait-for-sigint", str(marker), "--kill-round", "1"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while not marker.exists() and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        assert marker.exists(), "round 1's training never started"
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=120)
    finally:
        process.kill()

    assert process.returncode == 130, stderr[-4000:]
    assert "KeyboardInterrupt reached the script; SIGINT handler restored: True" in stdout
    assert not output.exists()
    assert RunDirectory(run_dir).load().state["next_round"] == 1

    resumed = run("power-bald", run_dir, output, "--resume")

    assert resumed.returncode == 0, resumed.stderr[-4000:]
    assert json.loads(output.read_text()) == expected
