"""The scripts in examples/ run as the README shows them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_custom_model_example_runs():
    completed = subprocess.run(
        [sys.executable, str(EXAMPLES / "custom_model.py"), "--rounds", "2", "--max-epochs", "2"],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    table = completed.stdout.splitlines()
    header = next(line for line in table if line.split()[:3] == ["round", "num_labelled", "test_accuracy"])
    rows = table[table.index(header) + 1 : table.index(header) + 3]
    assert [row.split()[:2] for row in rows] == [["0", "25"], ["1", "50"]]
    assert "Stopped: completed max_rounds=2 rounds." in completed.stdout
