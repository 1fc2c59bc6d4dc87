"""Labels from people checked against the model's classes: before training, at collect and on resume."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from loop_helpers import RecordingClassifier, make_dataset, quiet_trainer

import energizer
from energizer.annotators import FileAnnotator, OracleAnnotator
from energizer.errors import InvalidArgumentError
from energizer.query_strategies import EntropyStrategy

QUERY_SIZE = 6
NUM_CLASSES = 3


def make_datamodule() -> energizer.ActiveDataModule:
    return energizer.ActiveDataModule(
        make_dataset(60), test_dataset=make_dataset(30, seed=1), batch_size=8, initial_labels=6, seed=0
    )


def make_strategy() -> EntropyStrategy:
    torch.manual_seed(0)
    return EntropyStrategy(RecordingClassifier(num_classes=NUM_CLASSES))


def fit(strategy, datamodule, annotator, **options) -> energizer.ActiveFitResults:
    return quiet_trainer(max_epochs=1).active_fit(
        strategy,
        datamodule,
        query_size=QUERY_SIZE,
        max_rounds=3,
        seed=0,
        annotator=annotator,
        annotation_timeout=0,
        **options,
    )


def file_annotator(path: Path, **options) -> FileAnnotator:
    return FileAnnotator(path, poll_interval=0.01, max_poll_interval=0.01, **options)


def read_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as file:
        return list(csv.DictReader(file))


def write_labels(path: Path, labels: dict[int, str]) -> None:
    """Fill in the label column of the rows whose id is in ``labels``, as a person would."""
    rows = read_rows(path)
    for row in rows:
        if int(row["id"]) in labels:
            row["label"] = labels[int(row["id"])]
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def interrupt_after_round_0(record: energizer.RoundResult) -> None:
    if record.round == 0:
        raise KeyboardInterrupt


def saved_state(run_dir: Path) -> tuple[dict, dict[str, np.ndarray]]:
    state = json.loads((run_dir / "state.json").read_text())
    with np.load(run_dir / state["labels_file"]) as labels:
        arrays = {name: labels[name] for name in labels.files}
    return state, arrays


@pytest.mark.parametrize(
    "options",
    [{"class_names": ["a", "b", "c", "d"]}, {"num_classes": 4}, {"class_names": ["a", "b"]}],
    ids=["more-names", "more-classes", "fewer-names"],
)
def test_annotator_class_count_rejected_before_training(tmp_path, options):
    strategy = make_strategy()
    annotator = file_annotator(tmp_path / "to_label.csv", **options)
    run_dir = tmp_path / "run"

    with pytest.raises(InvalidArgumentError, match="Invalid `annotator`: expected an annotator with 3 classes") as raised:
        fit(strategy, make_datamodule(), annotator, run_dir=run_dir)

    assert f"with {annotator.num_classes} classes" in str(raised.value)
    assert "one class name per model output (3 names" in str(raised.value)
    assert strategy.model.epochs_per_fit == []
    assert not run_dir.exists()
    assert not (tmp_path / "to_label.csv").exists()


def test_annotator_class_count_rejected_on_resume(tmp_path):
    path = tmp_path / "to_label.csv"
    run_dir = tmp_path / "run"
    with pytest.raises(KeyboardInterrupt):
        fit(
            make_strategy(),
            make_datamodule(),
            file_annotator(path, num_classes=NUM_CLASSES),
            run_dir=run_dir,
            on_round_end=interrupt_after_round_0,
        )
    before = saved_state(run_dir)[0]
    strategy = make_strategy()

    with pytest.raises(InvalidArgumentError, match="expected an annotator with 3 classes"):
        fit(strategy, make_datamodule(), file_annotator(path, num_classes=5), run_dir=run_dir, resume=True)

    assert strategy.model.epochs_per_fit == []
    assert saved_state(run_dir)[0] == before


def test_collected_label_outside_classes_kept_for_resume(tmp_path):
    path = tmp_path / "to_label.csv"
    run_dir = tmp_path / "run"
    # class_names=None and no num_classes: the annotator accepts any class index >= 0.
    annotator = file_annotator(path)
    labelled: dict[int, str] = {}

    def person(record: energizer.RoundResult) -> None:
        if record.round == 0:
            first, second, third = sorted(int(row["id"]) for row in read_rows(path))[:3]
            labelled.update({first: "2", second: "3", third: "0"})
            write_labels(path, labelled)

    with pytest.raises(InvalidArgumentError, match="Invalid `annotator`: expected class indices from 0 to 2") as raised:
        fit(make_strategy(), make_datamodule(), annotator, run_dir=run_dir, on_round_end=person)

    first, second, third = sorted(labelled)
    message = str(raised.value)
    assert f"1 of 3 labels outside that range: label 3 at dataset id {second}" in message
    assert "Correct these labels in the labelling file" in message
    assert f"resume=True and run_dir={str(run_dir)!r}" in message
    # The run folder keeps the step before the collect: no label of it is saved.
    state, arrays = saved_state(run_dir)
    assert state["next_round"] == 2
    assert state["annotation"]["awaiting_labels"] is True
    assert set(labelled) <= set(state["annotation"]["pending_ids"])
    assert (arrays["given_labels"] == -1).all()
    assert (arrays["label_rounds"][sorted(labelled)] == -1).all()

    write_labels(path, {second: "1"})
    datamodule = make_datamodule()
    results = fit(make_strategy(), datamodule, file_annotator(path), run_dir=run_dir, resume=True)

    given = datamodule.given_labels
    assert given[first] == 2
    assert given[second] == 1
    assert given[third] == 0
    assert (datamodule.label_rounds[sorted(labelled)] == 2).all()
    assert len(results) == 3
    _, final = saved_state(run_dir)
    assert final["given_labels"][[first, second, third]].tolist() == [2, 1, 0]


def test_collected_label_outside_classes_without_run_dir(tmp_path):
    oracle = OracleAnnotator(np.full(60, NUM_CLASSES))

    with pytest.raises(InvalidArgumentError, match="6 of 6 labels outside that range: label 3 at dataset id") as raised:
        fit(make_strategy(), make_datamodule(), oracle)

    assert "then start the run again, with a run_dir" in str(raised.value)


def test_saved_label_outside_classes_rejected_on_resume(tmp_path):
    run_dir = tmp_path / "run"
    datamodule = make_datamodule()
    oracle = OracleAnnotator.from_dataset(datamodule.train_dataset)
    with pytest.raises(KeyboardInterrupt):
        fit(make_strategy(), datamodule, oracle, run_dir=run_dir, on_round_end=interrupt_after_round_0)
    # A label saved before labels were checked against the model.
    state, arrays = saved_state(run_dir)
    bad_id = int(np.flatnonzero(arrays["given_labels"] != -1)[0])
    arrays["given_labels"][bad_id] = 7
    np.savez(run_dir / state["labels_file"], **arrays)
    strategy = make_strategy()

    with pytest.raises(InvalidArgumentError, match="Invalid `given_labels`: expected class indices from 0 to 2") as raised:
        fit(strategy, make_datamodule(), OracleAnnotator.from_dataset(make_dataset(60)), run_dir=run_dir, resume=True)

    message = str(raised.value)
    assert f"label 7 at dataset id {bad_id}" in message
    assert state["labels_file"] in message
    assert "Correct them in its given_labels array" in message
    assert strategy.model.epochs_per_fit == []
