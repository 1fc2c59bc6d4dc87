"""Trainer.active_fit with an annotator: labels from people, partial, late, skipped and after a restart."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from loop_helpers import RecordingClassifier, make_dataset, quiet_trainer
from torch.nn import functional as F

import energizer
from energizer.annotators import FileAnnotator, OracleAnnotator
from energizer.data.given_labels import GivenLabelDataset, replace_target
from energizer.errors import InvalidArgumentError, LabellingError
from energizer.loop.run_dir import RunDirectory
from energizer.query_strategies import EntropyStrategy

QUERY_SIZE = 6
CLASSES = ["a", "b", "c"]


class TargetRecordingClassifier(RecordingClassifier):
    """Records the features and targets of every training batch of the latest fit."""

    def on_fit_start(self) -> None:
        super().on_fit_start()
        self.trained_on: list[tuple[torch.Tensor, torch.Tensor]] = []

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        self.trained_on.append((inputs.detach().clone(), targets.detach().clone()))
        return F.cross_entropy(self(inputs), targets)


class Person:
    """Fills in the labelling file after each round, giving a class other than the dataset's.

    After round 0 it labels the first three empty rows (by id), writes
    ``skip`` in the fourth and leaves the others empty. After round 1 it
    labels every empty row. Later rounds' rows stay empty, because the run
    would never collect them.
    """

    def __init__(self, path: Path, targets: torch.Tensor) -> None:
        self.path = path
        self.targets = targets
        self.given: dict[int, int] = {}
        self.skipped: list[int] = []

    def label_of(self, dataset_id: int) -> int:
        return (int(self.targets[dataset_id]) + 1) % len(CLASSES)

    def __call__(self, record: energizer.RoundResult) -> None:
        if record.round > 1 or not self.path.exists():
            return
        with open(self.path, newline="") as file:
            rows = list(csv.DictReader(file))
        empty = sorted(int(row["id"]) for row in rows if not row["label"])
        to_label = empty[:3] if record.round == 0 else empty
        for row in rows:
            dataset_id = int(row["id"])
            if dataset_id in to_label:
                row["label"] = CLASSES[self.label_of(dataset_id)]
                self.given[dataset_id] = self.label_of(dataset_id)
            elif record.round == 0 and len(empty) > 3 and dataset_id == empty[3]:
                row["label"] = "skip"
                self.skipped.append(dataset_id)
        with open(self.path, "w", newline="") as file:
            writer = csv.DictWriter(file, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)


class Interrupted(Exception):
    """Raised in place of a kill while the process waits for labels."""


class InterruptedFileAnnotator(FileAnnotator):
    """A file annotator whose ``collect`` raises on its ``stop_at``-th call, before reading the file."""

    def __init__(self, *args, stop_at: int, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.calls = 0
        self.stop_at = stop_at

    def collect(self, timeout=None):
        self.calls += 1
        if self.calls == self.stop_at:
            raise Interrupted
        return super().collect(timeout)


def make_datamodule(num_items: int = 60) -> energizer.ActiveDataModule:
    return energizer.ActiveDataModule(
        make_dataset(num_items),
        test_dataset=make_dataset(30, seed=1),
        batch_size=8,
        initial_labels=6,
        seed=0,
    )


def make_strategy(model_class=RecordingClassifier) -> EntropyStrategy:
    torch.manual_seed(0)
    return EntropyStrategy(model_class())


def comparable(results: energizer.ActiveFitResults):
    frame = results.to_pandas()
    return frame.drop(columns=[name for name in frame.columns if name.endswith("_seconds")])


# ---------------------------------------------------------------- given labels in the data module


def test_label_with_labels_stores_them():
    datamodule = make_datamodule()
    pool = datamodule.pool_ids[:3]

    datamodule.label(pool, labels=[2, 0, 1])

    assert datamodule.given_labels[pool].tolist() == [2, 0, 1]
    assert (datamodule.given_labels[datamodule.pool_ids] == -1).all()


@pytest.mark.parametrize(
    "labels, match",
    [([1, 2], "shape"), ([1.0, 2.0, 0.0], "shape"), ([1, -2, 0], ">= 0")],
)
def test_label_rejects_invalid_labels(labels, match):
    datamodule = make_datamodule()
    before = datamodule.state_dict()

    with pytest.raises(LabellingError, match=match):
        datamodule.label(datamodule.pool_ids[:3], labels=labels)

    assert datamodule.state_dict() == before


def test_train_loader_uses_given_labels():
    datamodule = make_datamodule()
    dataset = datamodule.train_dataset
    new_ids = datamodule.pool_ids[:4]
    given = [(int(dataset[i][1]) + 1) % 3 for i in new_ids]

    datamodule.label(new_ids, labels=given)
    subset = datamodule.train_dataloader().dataset

    expected = {int(i): label for i, label in zip(new_ids, given)}
    for position, dataset_id in enumerate(subset.indices):
        features, target = subset[position]
        assert torch.equal(features, dataset[dataset_id][0])
        assert int(target) == expected.get(dataset_id, int(dataset[dataset_id][1])), dataset_id
        assert target.dtype == torch.int64
    assert set(expected) <= set(subset.indices)


def test_research_mode_loader_unwrapped():
    datamodule = make_datamodule()
    datamodule.label(datamodule.pool_ids[:4])

    assert datamodule.train_dataloader().dataset.dataset is datamodule.train_dataset


@pytest.mark.parametrize(
    "item, target_key, expected",
    [
        ((torch.zeros(2), torch.tensor(0)), None, (torch.zeros(2), torch.tensor(2))),
        ([np.zeros(2), np.int64(0)], None, [np.zeros(2), np.int64(2)]),
        ({"x": 1.0, "y": 0}, "y", {"x": 1.0, "y": 2}),
        ((torch.tensor(0), torch.zeros(2)), 0, (torch.tensor(2), torch.zeros(2))),
        ("a sentence", None, ("a sentence", 2)),
    ],
)
def test_replace_target_layouts(item, target_key, expected):
    replaced = replace_target(item, 2, target_key)

    assert type(replaced) is type(expected)
    assert repr(replaced) == repr(expected)


def test_given_label_dataset_keeps_other_items():
    dataset = make_dataset(5)
    view = GivenLabelDataset(dataset, np.array([-1, 2, -1, -1, -1]), None)

    assert view[0] is not None and torch.equal(view[0][1], dataset[0][1])
    assert int(view[1][1]) == 2
    assert len(view) == 5


def test_state_dict_round_trip_with_labels():
    datamodule = make_datamodule()
    datamodule.label(datamodule.pool_ids[:3], labels=[2, 0, 1])
    state = json.loads(json.dumps(datamodule.state_dict()))

    restored = make_datamodule()
    restored.load_state_dict(state)

    assert restored.given_labels.tolist() == datamodule.given_labels.tolist()
    assert restored.label_rounds.tolist() == datamodule.label_rounds.tolist()


def test_old_state_without_labels_loads():
    datamodule = make_datamodule()
    state = datamodule.state_dict()
    del state["given_labels"]

    restored = make_datamodule()
    restored.load_state_dict(state)

    assert (restored.given_labels == -1).all()


def test_state_with_labels_on_pool_rejected():
    datamodule = make_datamodule()
    state = datamodule.state_dict()
    state["given_labels"][int(datamodule.pool_ids[0])] = 1

    with pytest.raises(InvalidArgumentError, match="given labels only for labelled items"):
        make_datamodule().load_state_dict(state)


def test_state_after_label_matches_label():
    datamodule = energizer.ActiveDataModule(make_dataset(60), batch_size=8, initial_labels=10, val_fraction=0.3, seed=0)
    ids = datamodule.pool_ids[:7]

    preview = datamodule.state_dict_after_label(ids, labels=[1] * 7)
    unchanged = datamodule.state_dict()
    datamodule.label(ids, labels=[1] * 7)

    assert unchanged["label_rounds"] != preview["label_rounds"]
    assert preview == datamodule.state_dict()


def test_run_dir_reads_labels_file_without_given_labels(tmp_path):
    directory = RunDirectory(tmp_path)
    directory.start({"a": 1}, {"w": torch.zeros(1)})
    directory.save_step({"step": 0, "next_round": 0, "run_seed": 0}, np.array([0, -1]), np.array([]), None, energizer.ActiveFitResults(strategy="x"))
    np.savez(tmp_path / "labels-000000.npz", label_rounds=np.array([0, -1]), validation_ids=np.array([], np.int64))

    saved = directory.load()

    assert saved.given_labels is None
    assert saved.label_rounds.tolist() == [0, -1]


# ---------------------------------------------------------------- the loop with an annotator


def test_oracle_matches_research_mode():
    research_dm = make_datamodule()
    research = quiet_trainer(max_epochs=2).active_fit(
        make_strategy(), research_dm, query_size=QUERY_SIZE, max_rounds=4, seed=0
    )
    oracle_dm = make_datamodule()
    oracle = OracleAnnotator.from_dataset(oracle_dm.train_dataset)
    with_oracle = quiet_trainer(max_epochs=2).active_fit(
        make_strategy(), oracle_dm, query_size=QUERY_SIZE, max_rounds=4, seed=0, annotator=oracle
    )

    assert comparable(with_oracle).equals(comparable(research))
    assert oracle_dm.label_rounds.tolist() == research_dm.label_rounds.tolist()
    assert oracle.num_revealed == 3 * QUERY_SIZE
    targets = make_dataset(60).tensors[1].numpy()
    given = oracle_dm.given_labels
    assert (given[given != -1] == targets[given != -1]).all()


def test_annotator_rejects_wrong_type():
    with pytest.raises(InvalidArgumentError, match="annotator"):
        quiet_trainer().active_fit(
            make_strategy(), make_datamodule(), query_size=QUERY_SIZE, max_rounds=2, annotator="file.csv"
        )


def run_with_file(tmp_path: Path, person: Person, annotator: FileAnnotator, **options):
    datamodule = make_datamodule()
    strategy = make_strategy(TargetRecordingClassifier)
    seen: list[dict] = []

    def on_round_end(record):
        seen.append(
            {
                "round": record.round,
                "pending": annotator.pending_ids.tolist(),
                "pool": datamodule.pool_ids.tolist(),
                "given": datamodule.given_labels.copy(),
            }
        )
        person(record)

    results = quiet_trainer(max_epochs=2).active_fit(
        strategy,
        datamodule,
        query_size=QUERY_SIZE,
        max_rounds=4,
        seed=0,
        annotator=annotator,
        annotation_timeout=0,
        on_round_end=on_round_end,
        **options,
    )
    return results, datamodule, strategy, seen


def test_file_annotator_partial_late_skipped(tmp_path):
    path = tmp_path / "to_label.csv"
    person = Person(path, make_dataset(60).tensors[1])
    annotator = FileAnnotator(path, CLASSES, poll_interval=0.01, max_poll_interval=0.01)

    results, datamodule, strategy, seen = run_with_file(tmp_path, person, annotator)

    # Round 0's collect finds nothing: the person fills in the file after the round.
    assert (seen[0]["given"] == -1).all()
    assert len(seen[0]["pending"]) == QUERY_SIZE
    # Round 1 collects three labels and one skip; two of round 0's ids stay pending.
    labelled_in_round_1 = np.flatnonzero(seen[1]["given"] != -1).tolist()
    assert labelled_in_round_1 == sorted(list(person.given)[:3])
    (skipped,) = person.skipped
    assert skipped in seen[1]["pool"]
    assert seen[1]["given"][skipped] == -1
    # Every label the person gave is applied once, with the person's class.
    given = datamodule.given_labels
    assert {int(i): int(given[i]) for i in np.flatnonzero(given != -1)} == person.given
    assert set(person.given) <= set(datamodule.labelled_ids.tolist())
    assert datamodule.num_labelled == 6 + len(person.given)
    assert len(seen[1]["pending"]) == 2 + QUERY_SIZE
    # An id that waits for its label is not queried again.
    for before, record in zip(seen, results.rounds[1:]):
        assert not set(record.queried_ids.tolist()) & set(before["pending"]), record.round
    assert len(results) == 4


def test_file_labels_used_in_training(tmp_path):
    path = tmp_path / "to_label.csv"
    dataset = make_dataset(60)
    person = Person(path, dataset.tensors[1])
    annotator = FileAnnotator(path, CLASSES, poll_interval=0.01, max_poll_interval=0.01)

    _, datamodule, strategy, _ = run_with_file(tmp_path, person, annotator)

    id_of_row = {tuple(row.tolist()): i for i, row in enumerate(dataset.tensors[0])}
    trained: dict[int, set[int]] = {}
    for features, targets in strategy.model.trained_on:
        for row, target in zip(features, targets):
            trained.setdefault(id_of_row[tuple(row.tolist())], set()).add(int(target))
    for dataset_id, label in person.given.items():
        assert label != int(dataset.tensors[1][dataset_id])
        assert trained[dataset_id] == {label}, dataset_id
    assert set(trained) == set(datamodule.train_ids.tolist())


def test_resume_collects_pending_after_interruption(tmp_path):
    targets = make_dataset(60).tensors[1]
    reference_path = tmp_path / "reference" / "to_label.csv"
    reference_path.parent.mkdir()
    reference_person = Person(reference_path, targets)
    reference = FileAnnotator(reference_path, CLASSES, poll_interval=0.01, max_poll_interval=0.01)
    expected, expected_dm, _, _ = run_with_file(tmp_path, reference_person, reference)

    path = tmp_path / "to_label.csv"
    run_dir = tmp_path / "run"
    person = Person(path, targets)
    interrupted = InterruptedFileAnnotator(path, CLASSES, stop_at=2, poll_interval=0.01, max_poll_interval=0.01)
    with pytest.raises(Interrupted):
        run_with_file(tmp_path, person, interrupted, run_dir=run_dir)
    state = json.loads((run_dir / "state.json").read_text())
    saved_labels = np.load(run_dir / state["labels_file"])

    annotator = FileAnnotator(path, CLASSES, poll_interval=0.01, max_poll_interval=0.01)
    resumed, resumed_dm, _, _ = run_with_file(tmp_path, person, annotator, run_dir=run_dir, resume=True)

    assert state["annotation"]["awaiting_labels"] is True
    assert len(state["annotation"]["pending_ids"]) == 2 * QUERY_SIZE
    assert (saved_labels["given_labels"] == -1).all()
    assert comparable(resumed).equals(comparable(expected))
    assert resumed_dm.label_rounds.tolist() == expected_dm.label_rounds.tolist()
    assert resumed_dm.given_labels.tolist() == expected_dm.given_labels.tolist()
    assert person.given == reference_person.given
    final = json.loads((run_dir / "state.json").read_text())
    final_labels = np.load(run_dir / final["labels_file"])
    assert final_labels["given_labels"].tolist() == expected_dm.given_labels.tolist()


def test_resume_ignores_rows_of_other_runs(tmp_path, caplog):
    targets = make_dataset(60).tensors[1]
    reference_path = tmp_path / "reference" / "to_label.csv"
    reference_path.parent.mkdir()
    reference = FileAnnotator(reference_path, CLASSES, poll_interval=0.01, max_poll_interval=0.01)
    expected, expected_dm, _, _ = run_with_file(tmp_path, Person(reference_path, targets), reference)
    never_labelled = sorted(set(range(60)) - set(expected_dm.labelled_ids.tolist()))[0]

    path = tmp_path / "to_label.csv"
    run_dir = tmp_path / "run"
    person = Person(path, targets)
    interrupted = InterruptedFileAnnotator(path, CLASSES, stop_at=2, poll_interval=0.01, max_poll_interval=0.01)
    with pytest.raises(Interrupted):
        run_with_file(tmp_path, person, interrupted, run_dir=run_dir)
    # Rows another run left in the same file: a labelled one in range, and one outside the data set.
    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    blank = dict.fromkeys(rows[0], "")
    rows += [{**blank, "id": str(never_labelled), "label": "a"}, {**blank, "id": "999", "label": "b"}]
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)

    annotator = FileAnnotator(path, CLASSES, poll_interval=0.01, max_poll_interval=0.01)
    with caplog.at_level("WARNING"):
        resumed, resumed_dm, _, _ = run_with_file(tmp_path, person, annotator, run_dir=run_dir, resume=True)

    ignored = f"Ignoring 2 items of the annotator's store that this run did not request (for example [{never_labelled}, 999])"
    assert ignored in caplog.text
    assert comparable(resumed).equals(comparable(expected))
    assert resumed_dm.given_labels.tolist() == expected_dm.given_labels.tolist()
    assert never_labelled not in resumed_dm.labelled_ids.tolist()


def test_new_run_ignores_rows_of_other_runs(tmp_path, caplog):
    targets = make_dataset(60).tensors[1]
    reference_path = tmp_path / "reference" / "to_label.csv"
    reference_path.parent.mkdir()
    reference = FileAnnotator(reference_path, CLASSES, poll_interval=0.01, max_poll_interval=0.01)
    expected, expected_dm, _, _ = run_with_file(tmp_path, Person(reference_path, targets), reference)
    requested = set(expected_dm.labelled_ids.tolist()).union(*(record.queried_ids.tolist() for record in expected))
    never_requested = sorted(set(range(60)) - requested)[-2:]
    # A file that another run left: one labelled row and one open row, for items this run never requests.
    path = tmp_path / "to_label.csv"
    with open(reference_path, newline="") as file:
        fields = list(csv.DictReader(file).fieldnames)
    blank = dict.fromkeys(fields, "")
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        writer.writerows([{**blank, "id": str(never_requested[0]), "label": "a"}, {**blank, "id": str(never_requested[1])}])

    annotator = FileAnnotator(path, CLASSES, poll_interval=0.01, max_poll_interval=0.01)
    with caplog.at_level("WARNING"):
        results, datamodule, _, _ = run_with_file(tmp_path, Person(path, targets), annotator)

    assert f"Ignoring 2 items of the annotator's store that this run did not request (for example {never_requested})" in caplog.text
    assert comparable(results).equals(comparable(expected))
    assert datamodule.given_labels.tolist() == expected_dm.given_labels.tolist()


def test_new_run_never_queries_ids_of_other_runs(tmp_path, caplog):
    targets = make_dataset(60).tensors[1]
    reference_path = tmp_path / "reference" / "to_label.csv"
    reference_path.parent.mkdir()
    reference = FileAnnotator(reference_path, CLASSES, poll_interval=0.01, max_poll_interval=0.01)
    expected, _, _, _ = run_with_file(tmp_path, Person(reference_path, targets), reference)
    # Labelled rows, left by another run, for the ids that this run would query first.
    first_query = expected[0].queried_ids.tolist()
    path = tmp_path / "to_label.csv"
    with open(reference_path, newline="") as file:
        fields = list(csv.DictReader(file).fieldnames)
    blank = dict.fromkeys(fields, "")
    with open(path, "w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=fields)
        writer.writeheader()
        writer.writerows({**blank, "id": str(dataset_id), "label": "a"} for dataset_id in first_query)

    annotator = FileAnnotator(path, CLASSES, poll_interval=0.01, max_poll_interval=0.01)
    with caplog.at_level("WARNING"):
        results, datamodule, _, _ = run_with_file(tmp_path, Person(path, targets), annotator)

    assert "the run neither queries them nor uses their labels while they stay in the store" in caplog.text
    queried = set().union(*(record.queried_ids.tolist() for record in results))
    assert not queried & set(first_query)
    assert (datamodule.given_labels[first_query] == -1).all()
    assert not set(first_query) & set(datamodule.labelled_ids.tolist())


def test_resume_without_annotator_rejected(tmp_path):
    path = tmp_path / "to_label.csv"
    run_dir = tmp_path / "run"
    person = Person(path, make_dataset(60).tensors[1])
    interrupted = InterruptedFileAnnotator(path, CLASSES, stop_at=2, poll_interval=0.01, max_poll_interval=0.01)
    with pytest.raises(Interrupted):
        run_with_file(tmp_path, person, interrupted, run_dir=run_dir)

    with pytest.raises(InvalidArgumentError, match="ids pending"):
        quiet_trainer(max_epochs=2).active_fit(
            make_strategy(TargetRecordingClassifier),
            make_datamodule(),
            query_size=QUERY_SIZE,
            max_rounds=4,
            run_dir=run_dir,
            resume=True,
        )


def test_file_rows_carry_model_predictions(tmp_path):
    path = tmp_path / "to_label.csv"
    person = Person(path, make_dataset(60).tensors[1])
    annotator = FileAnnotator(path, CLASSES, poll_interval=0.01, max_poll_interval=0.01)

    _, _, strategy, _ = run_with_file(tmp_path, person, annotator)

    with open(path, newline="") as file:
        rows = list(csv.DictReader(file))
    assert rows
    # Each row shows the model's class for the item, as a pre-annotation for people.
    assert all(row["prediction"] in CLASSES for row in rows)
    assert all(row["score"] for row in rows)
