"""FileAnnotator: the labelling file round trip, people's edits, bad labels and atomic writes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import warnings
from pathlib import Path

import numpy as np
import pytest
from annotator_helpers import fill_csv_labels, fill_jsonl_labels, read_csv_rows, read_jsonl_rows

from energizer.annotators import AnnotationWarning, FileAnnotator
from energizer.annotators import file_formats
from energizer.errors import AnnotationError, InvalidArgumentError

CLASSES = ["cat", "dog", "bird"]


def fill(path: Path, labels: dict[int, str]) -> None:
    if path.suffix == ".jsonl":
        fill_jsonl_labels(path, labels)
    else:
        fill_csv_labels(path, labels)


def rows(path: Path) -> list[dict]:
    return read_jsonl_rows(path) if path.suffix == ".jsonl" else read_csv_rows(path)


@pytest.fixture(params=["csv", "jsonl"])
def labels_path(request, tmp_path: Path) -> Path:
    return tmp_path / f"labels.{request.param}"


def test_request_writes_rows(labels_path):
    annotator = FileAnnotator(labels_path, CLASSES)

    sent = annotator.request(
        np.array([4, 2]), predictions=np.array([1, 2]), scores=np.array([0.25, 0.75])
    )

    assert sent.tolist() == [4, 2]
    written = rows(labels_path)
    assert [str(row["id"]) for row in written] == ["4", "2"]
    assert [row["prediction"] for row in written] == ["dog", "bird"]
    assert [float(row["score"]) for row in written] == [0.25, 0.75]
    assert [row["label"] or "" for row in written] == ["", ""]


def test_csv_header(tmp_path):
    path = tmp_path / "labels.csv"
    FileAnnotator(path).request([0])

    assert path.read_text().splitlines()[0] == "id,prediction,score,label"


def test_round_trip(labels_path):
    annotator = FileAnnotator(labels_path, CLASSES)
    annotator.request([0, 1, 2])
    fill(labels_path, {0: "dog", 1: "cat", 2: "bird"})

    outcome = annotator.collect(timeout=0)

    assert outcome.labels == {0: 1, 1: 0, 2: 2}
    assert outcome.ids.tolist() == [0, 1, 2]
    assert outcome.classes.tolist() == [1, 0, 2]
    assert annotator.pending_ids.size == 0


def test_partial_fill(labels_path):
    annotator = FileAnnotator(labels_path, CLASSES)
    annotator.request([0, 1, 2, 3])
    fill(labels_path, {1: "cat", 3: "bird"})

    first = annotator.collect(timeout=0)
    fill(labels_path, {0: "dog"})
    second = annotator.collect(timeout=0)

    assert first.labels == {1: 0, 3: 2}
    assert second.labels == {0: 1}
    assert annotator.pending_ids.tolist() == [2]


def test_label_is_returned_once(labels_path):
    annotator = FileAnnotator(labels_path, CLASSES)
    annotator.request([5])
    fill(labels_path, {5: "cat"})

    first = annotator.collect(timeout=0)
    fill(labels_path, {5: "dog"})
    second = annotator.collect(timeout=0)

    assert first.labels == {5: 0}
    assert second.labels == {}


def test_class_indices_without_names(labels_path):
    annotator = FileAnnotator(labels_path, num_classes=3)
    annotator.request([0, 1], predictions=[2, 0])
    fill(labels_path, {0: "2", 1: "0"})

    outcome = annotator.collect(timeout=0)

    assert [str(row["prediction"]) for row in rows(labels_path)] == ["2", "0"]
    assert outcome.labels == {0: 2, 1: 0}


def test_jsonl_numbers_as_labels(tmp_path):
    path = tmp_path / "labels.jsonl"
    annotator = FileAnnotator(path)
    annotator.request([3])
    fill_jsonl_labels(path, {3: 1})

    assert annotator.collect(timeout=0).labels == {3: 1}


def test_edits_between_requests_are_kept(tmp_path):
    path = tmp_path / "labels.csv"
    annotator = FileAnnotator(path, CLASSES)
    annotator.request([0, 1])
    # A person labels one row and adds a column of notes.
    path.write_text("id,prediction,score,label,notes\n0,,,dog,blurry\n1,,,,\n")

    annotator.request([2, 3])
    outcome = annotator.collect(timeout=0)

    written = read_csv_rows(path)
    assert [row["id"] for row in written] == ["0", "1", "2", "3"]
    assert written[0]["label"] == "dog"
    assert written[0]["notes"] == "blurry"
    assert outcome.labels == {0: 1}
    assert annotator.pending_ids.tolist() == [1, 2, 3]


def test_jsonl_edits_between_requests_are_kept(tmp_path):
    path = tmp_path / "labels.jsonl"
    annotator = FileAnnotator(path, CLASSES)
    annotator.request([0])
    path.write_text('{"id": 0, "label": "cat", "comment": "easy"}\nnot json at all\n')

    with pytest.warns(AnnotationWarning, match="line 2 is skipped"):
        annotator.request([1])
        outcome = annotator.collect(timeout=0)

    lines = path.read_text().splitlines()
    assert json.loads(lines[0]) == {"id": 0, "label": "cat", "comment": "easy"}
    assert lines[1] == "not json at all"
    assert json.loads(lines[2])["id"] == 1
    assert outcome.labels == {0: 0}


def test_spreadsheet_csv_dialect_is_kept(tmp_path):
    # A spreadsheet in a locale with decimal commas: semicolons, CRLF and a byte order mark.
    path = tmp_path / "labels.csv"
    path.write_bytes("\ufeffid;prediction;score;label\r\n0;cat;0,5;dog\r\n".encode())
    annotator = FileAnnotator(path, CLASSES)

    annotator.request([1])
    outcome = annotator.collect(timeout=0)

    text = path.read_bytes().decode()
    assert text.splitlines()[0] == "id;prediction;score;label"
    assert "\r\n" in text
    assert text.splitlines()[1] == "0;cat;0,5;dog"
    assert outcome.labels == {0: 1}


def test_unknown_class_name_warns(labels_path):
    annotator = FileAnnotator(labels_path, CLASSES)
    annotator.request([7])
    fill(labels_path, {7: "horse"})

    with pytest.warns(AnnotationWarning, match=r"label 'horse' of id 7 is not a class name"):
        outcome = annotator.collect(timeout=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        repeated = annotator.collect(timeout=0)
    fill(labels_path, {7: "cat"})
    fixed = annotator.collect(timeout=0)

    assert outcome.labels == {}
    assert repeated.labels == {}
    assert fixed.labels == {7: 0}


@pytest.mark.parametrize("label", ["3", "-1", "1.5", "two"])
def test_unknown_class_index_warns(tmp_path, label):
    path = tmp_path / "labels.csv"
    annotator = FileAnnotator(path, num_classes=3)
    annotator.request([0])
    fill(path, {0: label})

    with pytest.warns(AnnotationWarning, match=rf"label '{label}' of id 0 is not a class"):
        outcome = annotator.collect(timeout=0)

    assert outcome.labels == {}
    assert annotator.pending_ids.tolist() == [0]


def test_class_number_with_class_names_warns(labels_path):
    annotator = FileAnnotator(labels_path, CLASSES)
    annotator.request([0])
    fill(labels_path, {0: "1"})

    with pytest.warns(AnnotationWarning, match="expected one of \\['cat', 'dog', 'bird'\\]"):
        outcome = annotator.collect(timeout=0)

    assert outcome.labels == {}


def test_row_for_unrequested_id_warns(tmp_path):
    path = tmp_path / "labels.csv"
    annotator = FileAnnotator(path, CLASSES)
    annotator.request([0])
    with open(path, "a") as file:
        file.write("99,,,cat\n")

    with pytest.warns(AnnotationWarning, match="labels id 99, which was never requested"):
        outcome = annotator.collect(timeout=0)

    assert outcome.labels == {}


def test_row_with_invalid_id_warns(tmp_path):
    path = tmp_path / "labels.csv"
    annotator = FileAnnotator(path, CLASSES)
    annotator.request([0])
    with open(path, "a") as file:
        file.write("seven,,,cat\n")

    with pytest.warns(AnnotationWarning, match="its id 'seven' is not a dataset id"):
        outcome = annotator.collect(timeout=0)

    assert outcome.labels == {}


def test_disagreeing_rows_warn(tmp_path):
    path = tmp_path / "labels.csv"
    annotator = FileAnnotator(path, CLASSES)
    annotator.request([0])
    path.write_text("id,prediction,score,label\n0,,,cat\n0,,,dog\n")

    with pytest.warns(
        AnnotationWarning, match=r"id 0 has rows with different labels \['cat', 'dog'\]"
    ):
        outcome = annotator.collect(timeout=0)

    assert outcome.labels == {}


def test_skip_returns_id_to_pool(labels_path):
    annotator = FileAnnotator(labels_path, CLASSES)
    annotator.request([0, 1])
    fill(labels_path, {0: "Skip", 1: "cat"})

    outcome = annotator.collect(timeout=0)
    resent = annotator.request([0])
    after_request = annotator.collect(timeout=0)

    assert outcome.returned == (0,)
    assert outcome.labels == {1: 0}
    assert resent.tolist() == [0]
    assert [row["label"] or "" for row in rows(labels_path)] == ["", "cat"]
    assert after_request.returned == ()
    assert annotator.pending_ids.tolist() == [0]


def test_restart_adopts_rows_in_file(labels_path):
    first = FileAnnotator(labels_path, CLASSES)
    first.request([0, 1, 2])
    fill(labels_path, {0: "cat"})
    saved = first.collect(timeout=0).labels
    fill(labels_path, {1: "bird"})

    second = FileAnnotator(labels_path, CLASSES)
    second.mark_labelled(list(saved))
    resent = second.request([0, 1, 2])
    outcome = second.collect(timeout=0)

    assert saved == {0: 0}
    assert resent.size == 0
    assert outcome.labels == {1: 2}
    assert second.pending_ids.tolist() == [2]
    assert len(rows(labels_path)) == 3


def test_collect_waits_for_the_file(tmp_path):
    path = tmp_path / "labels.csv"
    annotator = FileAnnotator(path, CLASSES, poll_interval=0.05, max_poll_interval=0.2)
    annotator.request([0, 1])

    def fill_later() -> None:
        time.sleep(0.3)
        fill_csv_labels(path, {0: "cat"})
        time.sleep(0.3)
        fill_csv_labels(path, {1: "dog"})

    worker = threading.Thread(target=fill_later)
    started = time.monotonic()
    worker.start()
    outcome = annotator.collect(timeout=30)
    worker.join()

    assert outcome.labels == {0: 0, 1: 1}
    assert time.monotonic() - started < 10


def test_collect_timeout_returns_what_arrived(tmp_path):
    path = tmp_path / "labels.csv"
    annotator = FileAnnotator(path, CLASSES, poll_interval=0.05, max_poll_interval=0.1)
    annotator.request([0, 1])
    fill_csv_labels(path, {0: "cat"})

    started = time.monotonic()
    outcome = annotator.collect(timeout=0.3)

    assert outcome.labels == {0: 0}
    assert 0.3 <= time.monotonic() - started < 5


def test_deleted_row_warns(tmp_path):
    path = tmp_path / "labels.csv"
    annotator = FileAnnotator(path, CLASSES)
    annotator.request([0, 1])
    path.write_text("id,prediction,score,label\n0,,,\n")

    with pytest.warns(AnnotationWarning, match="id 1 was requested but has no row"):
        annotator.collect(timeout=0)
    cancelled = annotator.cancel([1])
    resent = annotator.request([1])

    assert cancelled.tolist() == [1]
    assert resent.tolist() == [1]
    assert [row["id"] for row in read_csv_rows(path)] == ["0", "1"]


def test_deleted_file_raises(tmp_path):
    path = tmp_path / "labels.csv"
    annotator = FileAnnotator(path, CLASSES)
    annotator.request([0])
    path.unlink()

    with pytest.raises(AnnotationError, match="is missing, but 1 requested items"):
        annotator.collect(timeout=0)


def test_missing_label_column_raises(tmp_path):
    path = tmp_path / "labels.csv"
    path.write_text("id,prediction,score\n0,,\n")

    with pytest.raises(AnnotationError, match="has no 'label' column"):
        FileAnnotator(path, CLASSES)


def test_failed_write_keeps_old_file(tmp_path, monkeypatch):
    path = tmp_path / "labels.csv"
    annotator = FileAnnotator(path, CLASSES)
    annotator.request([0])
    fill_csv_labels(path, {0: "cat"})
    before = path.read_bytes()

    def fail_replace(source, target):
        raise OSError("disk full")

    monkeypatch.setattr(file_formats.os, "replace", fail_replace)
    with pytest.raises(AnnotationError, match="cannot be written: disk full"):
        annotator.request([1])

    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["labels.csv"]
    assert annotator.pending_ids.tolist() == [0]


KILLED_WRITER = """
import os, sys, time
from energizer.annotators import FileAnnotator, file_formats

real_replace = os.replace

def replace_slowly(source, target):
    print("written aside", flush=True)
    time.sleep(60)
    real_replace(source, target)

file_formats.os.replace = replace_slowly
FileAnnotator(sys.argv[1], ["cat", "dog", "bird"]).request(list(range(1000, 6000)))
"""


def test_killed_write_leaves_old_file(tmp_path):
    path = tmp_path / "labels.csv"
    annotator = FileAnnotator(path, CLASSES)
    annotator.request([0])
    fill_csv_labels(path, {0: "cat"})
    before = path.read_bytes()

    writer = subprocess.Popen(
        [sys.executable, "-c", KILLED_WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert writer.stdout.readline().strip() == "written aside"
        os.kill(writer.pid, signal.SIGKILL)
    finally:
        writer.wait(timeout=30)
        writer.stdout.close()

    assert path.read_bytes() == before
    assert annotator.collect(timeout=0).labels == {0: 0}


def test_new_file_gets_default_permissions(tmp_path):
    path = tmp_path / "labels.csv"
    umask = os.umask(0o022)
    os.umask(umask)

    FileAnnotator(path).request([0])

    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_rewrite_keeps_permissions(tmp_path):
    path = tmp_path / "labels.csv"
    annotator = FileAnnotator(path)
    annotator.request([0])
    path.chmod(0o640)

    annotator.request([1])

    assert path.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize(
    ("options", "argument"),
    [
        ({"class_names": ["cat", "cat"]}, "class_names"),
        ({"class_names": ["cat", " dog"]}, "class_names"),
        ({"class_names": "cat"}, "class_names"),
        ({"format": "xlsx"}, "format"),
        ({"num_classes": 0}, "num_classes"),
        ({"class_names": ["cat", "dog"], "num_classes": 3}, "num_classes"),
        ({"class_names": ["cat", "skip"]}, "skip_label"),
        ({"skip_label": "2"}, "skip_label"),
        ({"poll_interval": 0}, "poll_interval"),
        ({"poll_interval": 5, "max_poll_interval": 1}, "max_poll_interval"),
    ],
)
def test_invalid_arguments(tmp_path, options, argument):
    with pytest.raises(InvalidArgumentError, match=f"Invalid `{argument}`"):
        FileAnnotator(tmp_path / "labels.csv", **options)


def test_prediction_outside_classes(tmp_path):
    annotator = FileAnnotator(tmp_path / "labels.csv", CLASSES)

    with pytest.raises(InvalidArgumentError, match="Invalid `predictions`"):
        annotator.request([0], predictions=[3])


def test_format_from_suffix(tmp_path):
    assert FileAnnotator(tmp_path / "a.jsonl").file_format == "jsonl"
    assert FileAnnotator(tmp_path / "a.ndjson").file_format == "jsonl"
    assert FileAnnotator(tmp_path / "a.csv").file_format == "csv"
    assert FileAnnotator(tmp_path / "a.txt", format="jsonl").file_format == "jsonl"
