"""`energizer label --annotator label-studio` run as a program against a real Label Studio.

The command runs in a subprocess with the token in ENERGIZER_LABEL_STUDIO_TOKEN only,
while the test plays a person who labels the project's open tasks through the REST API.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from annotator_helpers import LabelStudioPerson

from energizer.datasets import load_bundled
from energizer.loop.run_dir import RunDirectory

ENERGIZER = Path(sys.executable).with_name("energizer")
INITIAL_LABELS = 10
QUERY_SIZE = 4
ROUNDS = 3
# Seconds that each step of a test may take before it fails.
# A whole test took 10 to 30 s on 2 shared CPU cores.
STEP_TIMEOUT = 120


class DigitPerson:
    """Labels each task without an annotation, except those of ``left_open``, and records the label.

    The person disagrees with the data set on every id divisible by 3 and gives the
    next digit there, so labels read from the data set instead of the project show up.
    """

    def __init__(self, person: LabelStudioPerson, title: str, targets: np.ndarray) -> None:
        self.person = person
        self.title = title
        self.targets = targets
        self.submitted: dict[int, int] = {}
        self.repeated_ids: list[int] = []
        self.left_open: set[int] = set()

    def label_for(self, dataset_id: int) -> int:
        digit = int(self.targets[dataset_id])
        return (digit + 1) % 10 if dataset_id % 3 == 0 else digit

    def project_id(self) -> int | None:
        params = {"title": self.title}
        projects = self.person.call("GET", "/api/projects/", params=params)["results"]
        found = [project["id"] for project in projects if project["title"] == self.title]
        return found[0] if found else None

    def open_tasks(self) -> list[dict]:
        project_id = self.project_id()
        if project_id is None:
            return []
        tasks = self.person.tasks(project_id)
        open_tasks = [
            task
            for task in tasks
            if not task["annotations"] and task["data"]["energizer_id"] not in self.left_open
        ]
        return sorted(open_tasks, key=lambda task: task["id"])

    def label_open_tasks(self, limit: int | None = None) -> int:
        """Annotate up to ``limit`` open tasks, or all with ``None``, and return how many."""
        tasks = self.open_tasks()[:limit]
        for task in tasks:
            dataset_id = task["data"]["energizer_id"]
            if dataset_id in self.submitted:
                self.repeated_ids.append(dataset_id)
            label = self.label_for(dataset_id)
            self.person.annotate(task["id"], str(label), to_name="table")
            self.submitted[dataset_id] = label
        return len(tasks)


def start_command(
    arguments: list[str], token: str, log_folder: Path, name: str
) -> subprocess.Popen:
    """Start ``energizer label``, with its output in ``log_folder/name.out`` and ``name.err``."""
    environment = {**os.environ, "ENERGIZER_LABEL_STUDIO_TOKEN": token}
    environment.pop("ENERGIZER_LABEL_STUDIO_URL", None)
    command = [str(ENERGIZER), "label", *arguments]
    with open(log_folder / f"{name}.out", "w") as stdout:
        with open(log_folder / f"{name}.err", "w") as stderr:
            return subprocess.Popen(command, stdout=stdout, stderr=stderr, env=environment)


def wait_for(
    condition: Callable[[], bool], process: subprocess.Popen, error_log: Path, description: str
) -> None:
    """Poll ``condition`` until it holds. Fail if the command exits first or after STEP_TIMEOUT."""
    deadline = time.monotonic() + STEP_TIMEOUT
    while not condition():
        if process.poll() is not None:
            raise AssertionError(
                f"the command exited with code {process.returncode} before {description}:\n"
                f"{error_log.read_text()[-3000:]}"
            )
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"timed out after {STEP_TIMEOUT} s waiting for {description}")
        time.sleep(0.2)


def label_until_exit(labeller: DigitPerson, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + STEP_TIMEOUT
    while process.poll() is None:
        if time.monotonic() > deadline:
            process.kill()
            process.wait()
            raise AssertionError(f"the command did not finish within {STEP_TIMEOUT} s")
        labeller.label_open_tasks()
        time.sleep(0.2)


def test_label_command_resumes_after_kill(label_studio, person, project_title, tmp_path: Path):
    targets = load_bundled("digits", seed=0).train.tensors[1].numpy()
    labeller = DigitPerson(person, project_title, targets)
    output_dir = tmp_path / "out"
    arguments = [
        "--dataset", "digits", "--annotator", "label-studio", "--url", label_studio.url,
        "--project", project_title, "--initial-labels", str(INITIAL_LABELS),
        "--query-size", str(QUERY_SIZE), "--rounds", str(ROUNDS), "--max-steps", "20",
        "--poll-interval", "0.2", "--output-dir", str(output_dir),
    ]  # fmt: skip

    # The first process creates the project, waits for the initial labels, trains round 0
    # and sends its queries. It is killed while it waits for the labels of those queries.
    first = start_command(arguments, label_studio.token, tmp_path, "first")
    while len(labeller.submitted) < INITIAL_LABELS:
        wait_for(
            lambda: bool(labeller.open_tasks()), first, tmp_path / "first.err", "the initial tasks"
        )
        labeller.label_open_tasks(limit=INITIAL_LABELS - len(labeller.submitted))
    wait_for(
        lambda: f"Requested labels for {QUERY_SIZE} items" in (tmp_path / "first.err").read_text(),
        first,
        tmp_path / "first.err",
        "the queries of round 0",
    )
    time.sleep(0.5)  # Let it poll for the labels at least once.
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=30) == -signal.SIGKILL

    killed = RunDirectory(output_dir / "run").load().state
    round_0_queries = sorted(task["data"]["energizer_id"] for task in labeller.open_tasks())
    assert len(round_0_queries) == QUERY_SIZE
    assert killed["annotation"]["awaiting_labels"] is True
    assert killed["annotation"]["pending_ids"] == round_0_queries

    # Labels given while no process runs come back with the resumed one.
    assert labeller.label_open_tasks(limit=2) == 2
    resumed = start_command([*arguments, "--resume"], label_studio.token, tmp_path, "resumed")
    label_until_exit(labeller, resumed)
    stdout = (tmp_path / "resumed.out").read_text()
    stderr = (tmp_path / "resumed.err").read_text()

    assert resumed.returncode == 0, stderr[-3000:]
    assert "Resuming the run" in stderr
    assert f"Requested labels for 0 items; {QUERY_SIZE} were already pending" in stderr
    for name in ("first.out", "first.err", "resumed.out", "resumed.err"):
        assert label_studio.token not in (tmp_path / name).read_text(), name

    # Every queried item was labelled once, in one task, with one annotation.
    num_labels = INITIAL_LABELS + (ROUNDS - 1) * QUERY_SIZE
    assert labeller.repeated_ids == []
    assert len(labeller.submitted) == num_labels
    project_id = labeller.project_id()
    tasks = person.tasks(project_id)
    annotation_counts = {task["data"]["energizer_id"]: len(task["annotations"]) for task in tasks}
    assert len(tasks) == num_labels
    assert annotation_counts == {dataset_id: 1 for dataset_id in labeller.submitted}

    # The run contains the person's labels, not the data set's, each in the round that received it.
    saved = RunDirectory(output_dir / "run").load()
    labelled = np.flatnonzero(saved.label_rounds >= 0)
    run_labels = {int(i): int(saved.given_labels[i]) for i in labelled}
    assert run_labels == labeller.submitted
    assert (saved.given_labels[saved.label_rounds < 0] == -1).all()
    assert any(label != targets[i] for i, label in run_labels.items())
    rounds = saved.state["results"]["rounds"]
    queried = [record["queried_ids"] for record in rounds]
    assert [record["round"] for record in rounds] == list(range(ROUNDS))
    assert sorted(queried[0]) == round_0_queries
    assert [len(ids) for ids in queried] == [QUERY_SIZE] * (ROUNDS - 1) + [0]
    assert int((saved.label_rounds == 0).sum()) == INITIAL_LABELS
    for round_index, ids in enumerate(queried[:-1]):
        assert saved.label_rounds[ids].tolist() == [round_index + 1] * QUERY_SIZE
    assert saved.state["results"]["stop_reason"] is not None
    assert saved.state["annotation"]["pending_ids"] == []
    for record in rounds:
        assert f"round {record['round']}: {record['num_labelled']} labelled" in stdout
    assert f"round {ROUNDS - 1}: {num_labels} labelled" in stdout


def test_label_command_ignores_earlier_tasks(label_studio, person, project_title, tmp_path: Path):
    """Tasks left by an earlier run in a reused project are neither awaited nor taken as labels."""
    targets = load_bundled("digits", seed=0).train.tensors[1].numpy()
    labeller = DigitPerson(person, project_title, targets)
    choices = "".join(f'<Choice value="{digit}"/>' for digit in range(10))
    config = (
        f'<View><Table name="table" value="$table"/>'
        f'<Choices name="label" toName="table" choice="single">{choices}</Choices></View>'
    )
    project_id = person.create_project(project_title, config)["id"]
    earlier_ids = [0, 1, 2, 3, 4, 5]
    earlier_tasks = [{"data": {"table": {"0": 0}, "energizer_id": i}} for i in earlier_ids]
    person.import_tasks(project_id, earlier_tasks)
    # The earlier run received labels for all but the last of its tasks, which stays open.
    assert labeller.label_open_tasks(limit=len(earlier_ids) - 1) == len(earlier_ids) - 1
    labeller.left_open.add(earlier_ids[-1])
    arguments = [
        "--dataset", "digits", "--annotator", "label-studio", "--url", label_studio.url,
        "--project", project_title, "--initial-labels", "3", "--query-size", "1", "--rounds", "1",
        "--max-steps", "5", "--poll-interval", "0.2", "--output-dir", str(tmp_path / "out"),
    ]  # fmt: skip

    process = start_command(arguments, label_studio.token, tmp_path, "command")
    label_until_exit(labeller, process)
    stderr = (tmp_path / "command.err").read_text()

    assert process.returncode == 0, stderr[-3000:]
    saved = RunDirectory(tmp_path / "out" / "run").load()
    labelled = np.flatnonzero(saved.label_rounds >= 0)
    assert labelled.size == 3
    assert "rows or tasks for ids this run did not request" in stderr
    assert {int(i): int(saved.given_labels[i]) for i in labelled} == {
        int(i): labeller.submitted[int(i)] for i in labelled
    }
    open_earlier = [
        task["data"]["energizer_id"] for task in person.tasks(project_id) if not task["annotations"]
    ]
    assert open_earlier == earlier_ids[-1:]
