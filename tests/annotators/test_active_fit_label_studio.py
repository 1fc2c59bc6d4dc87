"""Trainer.active_fit on digits against a real Label Studio, with a person and a server restart."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import numpy as np
import torch
from annotator_helpers import LabelStudioPerson
from label_studio_server import LabelStudioServer

import energizer
from energizer.annotators import LabelStudioAnnotator
from energizer.datasets.bundled import load_bundled
from energizer.models import MLPClassifier
from energizer.query_strategies import EntropyStrategy

CLASSES = [str(digit) for digit in range(10)]
INITIAL_LABELS = 20
QUERY_SIZE = 8


class DigitLabeller(threading.Thread):
    """Annotates every new task of the project with the digit it shows, through the REST API.

    Before it annotates the second batch of tasks it stops the server and
    starts it again, so the loop waits through an outage.
    """

    def __init__(self, person: LabelStudioPerson, server: LabelStudioServer, title: str, targets: torch.Tensor):
        super().__init__(daemon=True)
        self.person = person
        self.server = server
        self.title = title
        self.targets = targets
        self.submitted: dict[int, int] = {}
        self.batches = 0
        self.restart_seconds: float | None = None
        self.done = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            while not self.done.is_set():
                self.annotate_new_tasks()
                time.sleep(0.2)
        except BaseException as error:  # Reported by the test, which would otherwise hang or pass.
            self.error = error

    def annotate_new_tasks(self) -> None:
        projects = self.person.call("GET", "/api/projects/", params={"title": self.title})["results"]
        if not any(project["title"] == self.title for project in projects):
            return
        project_id = self.person.project(self.title)["id"]
        new = {
            dataset_id: task_ids
            for dataset_id, task_ids in self.person.task_ids_by_dataset_id(project_id).items()
            if dataset_id not in self.submitted
        }
        if not new:
            return
        self.batches += 1
        if self.batches == 2:
            self.server.stop()
            time.sleep(1.0)
            self.restart_seconds = self.server.start()
        for dataset_id, (task_id,) in sorted(new.items()):
            digit = int(self.targets[dataset_id])
            self.person.annotate(task_id, CLASSES[digit], to_name="table")
            self.submitted[dataset_id] = digit


def test_three_rounds_on_digits_with_restart(label_studio, person, project_title, tmp_path: Path):
    data = load_bundled("digits", seed=0)
    datamodule = energizer.ActiveDataModule(
        data.train, test_dataset=data.test, batch_size=32, initial_labels=INITIAL_LABELS, seed=0
    )
    torch.manual_seed(0)
    strategy = EntropyStrategy(MLPClassifier(data.num_features, data.num_classes, hidden_sizes=(32,)))
    annotator = LabelStudioAnnotator(
        data.train.tensors[0].numpy(),
        class_names=CLASSES,
        data_kind="table",
        project=project_title,
        url=label_studio.url,
        token=label_studio.token,
        poll_interval=0.2,
        max_poll_interval=1.0,
        request_timeout=10.0,
    )
    labeller = DigitLabeller(person, label_studio, project_title, data.train.tensors[1])
    trainer = energizer.Trainer(
        max_epochs=3,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    labeller.start()
    try:
        results = trainer.active_fit(
            strategy,
            datamodule,
            query_size=QUERY_SIZE,
            max_rounds=3,
            seed=0,
            annotator=annotator,
            annotation_timeout=120,
            run_dir=tmp_path / "run",
        )
    finally:
        labeller.done.set()
        labeller.join(timeout=120)
        if not label_studio.healthy():
            label_studio.start()

    assert labeller.error is None, repr(labeller.error)
    assert labeller.restart_seconds is not None
    assert len(results) == 3
    # Rounds 0 and 1 query and wait; round 2 reaches max_rounds and stops.
    assert len(labeller.submitted) == 2 * QUERY_SIZE
    given = datamodule.given_labels
    assert {int(i): int(given[i]) for i in np.flatnonzero(given != -1)} == labeller.submitted
    assert datamodule.num_labelled == INITIAL_LABELS + len(labeller.submitted)
    assert set(labeller.submitted) <= set(datamodule.labelled_ids.tolist())
    assert annotator.pending_ids.size == 0
    counts = {i: len(tasks) for i, tasks in person.task_ids_by_dataset_id(annotator.project_id).items()}
    assert counts == {i: 1 for i in labeller.submitted}
    state = json.loads((tmp_path / "run" / "state.json").read_text())
    with np.load(tmp_path / "run" / state["labels_file"]) as saved:
        assert saved["given_labels"].tolist() == given.tolist()
    assert state["annotation"]["pending_ids"] == []
