"""`energizer label` with a labelling file that a person fills in while the command waits."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import time
from pathlib import Path

import pytest

from energizer.cli.main import main
from energizer.datasets import load_bundled
from energizer.loop.run_dir import RunDirectory

COMMAND = [
    "label", "--dataset", "wine", "--annotator", "file", "--initial-labels", "6", "--query-size", "5",
    "--rounds", "3", "--max-steps", "20", "--poll-interval", "0.05",
]


def fill_labels(path: Path, targets, answered: dict[int, int]) -> None:
    """Give every row without a label its true class, as a person would, and save the file whole."""
    text = path.read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    if not rows or all(row["label"] for row in rows):
        return
    for row in rows:
        if not row["label"]:
            item = int(row["id"])
            answered[item] = int(targets[item])
            row["label"] = str(answered[item])
    output = io.StringIO()
    writer = csv.DictWriter(output, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    temporary = path.with_suffix(".person")
    temporary.write_text(output.getvalue())
    temporary.replace(path)


def test_label_loop_takes_every_label_once(tmp_path):
    targets = load_bundled("wine", seed=0).train.tensors[1].numpy()
    script = Path(sys.executable).with_name("energizer")
    process = subprocess.Popen(
        [str(script), *COMMAND, "--output-dir", str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    labels_file = tmp_path / "labels.csv"
    answered: dict[int, int] = {}
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if labels_file.exists():
            fill_labels(labels_file, targets, answered)
        time.sleep(0.2)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == 0, stderr[-3000:]
    saved = RunDirectory(tmp_path / "run").load()
    labelled = saved.label_rounds >= 0
    assert labelled.sum() == 6 + 5 + 5
    assert sorted(answered) == sorted(labelled.nonzero()[0].tolist())
    assert all(saved.given_labels[item] == label for item, label in answered.items())
    assert "round 2: 16 labelled" in stdout
    assert "Waiting for the labels of 6 initial items" in stderr


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--resume"], "holds no saved run; leave out --resume"),
        (["--timeout", "-1"], "argument --timeout: expected seconds >= 0, received -1.0"),
        (["--initial-labels", "120"], "exceed the 124 items of the wine train split"),
        (["--strategy", "nope"], "argument --strategy: invalid choice: 'nope'"),
        (["--labels-file", "l.xlsx"], "argument --labels-file: expected a .csv or .jsonl file"),
    ],
)
def test_label_rejects_bad_options(arguments, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main([*COMMAND, *arguments, "--output-dir", str(tmp_path)])

    assert raised.value.code == 2
    assert message in capsys.readouterr().err


def test_label_ignores_rows_it_did_not_request(tmp_path):
    """A row for an id outside the data set, left in the file by hand, is never taken as a request."""
    targets = load_bundled("wine", seed=0).train.tensors[1].numpy()
    labels_file = tmp_path / "labels.csv"
    labels_file.write_text("id,prediction,score,label\n999,,,1\n")
    script = Path(sys.executable).with_name("energizer")
    process = subprocess.Popen(
        [str(script), *COMMAND, "--rounds", "1", "--output-dir", str(tmp_path)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    answered: dict[int, int] = {}
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        fill_labels(labels_file, targets, answered)
        time.sleep(0.2)
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 0, stderr[-3000:]
    saved = RunDirectory(tmp_path / "run").load()
    assert (saved.label_rounds >= 0).sum() == 6
    assert "Ignoring 1 rows or tasks for ids this run did not request (for example [999])" in stderr
