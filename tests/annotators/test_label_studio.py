"""LabelStudioAnnotator against a real Label Studio, with annotations made through its REST API."""

from __future__ import annotations

import logging
import threading
import time
import warnings
from typing import Any

import numpy as np
import pytest
from annotator_helpers import LabelStudioPerson
from label_studio_server import LabelStudioServer

from energizer.annotators import AnnotationWarning, LabelStudioAnnotator
from energizer.errors import AnnotationError, InvalidArgumentError

TEXTS = [f"message {i}" for i in range(40)]
CLASSES = ["ham", "spam"]


def make_annotator(
    server: LabelStudioServer, title: str, items: Any = TEXTS, **options: Any
) -> LabelStudioAnnotator:
    settings: dict[str, Any] = {
        "class_names": CLASSES,
        "project": title,
        "url": server.url,
        "token": server.token,
        "poll_interval": 0.2,
        "max_poll_interval": 1.0,
        "request_timeout": 10.0,
    }
    settings.update(options)
    return LabelStudioAnnotator(items, **settings)


def task_of(person: LabelStudioPerson, annotator: LabelStudioAnnotator, dataset_id: int) -> int:
    (task_id,) = person.task_ids_by_dataset_id(annotator.project_id)[dataset_id]
    return task_id


def test_request_creates_project_and_tasks(label_studio, person, project_title):
    annotator = make_annotator(label_studio, project_title)

    sent = annotator.request(
        np.array([3, 5, 7]), predictions=np.array([1, 0, 1]), scores=np.array([0.9, 0.5, 0.1])
    )

    assert sent.tolist() == [3, 5, 7]
    project = person.project(project_title)
    assert project["id"] == annotator.project_id
    assert '<Text name="text" value="$text"' in project["label_config"]
    assert '<Choice value="spam"' in project["label_config"]
    tasks = {task["data"]["energizer_id"]: task for task in person.tasks(project["id"])}
    assert sorted(tasks) == [3, 5, 7]
    assert tasks[3]["data"]["text"] == "message 3"
    (prediction,) = tasks[3]["predictions"]
    assert prediction["result"][0]["value"]["choices"] == ["spam"]
    assert prediction["score"] == pytest.approx(0.9)
    assert prediction["model_version"] == "energizer"


def test_request_imports_each_id_once(label_studio, person, project_title):
    annotator = make_annotator(label_studio, project_title)
    annotator.request([1, 2])

    sent = annotator.request([1, 2, 3])

    assert sent.tolist() == [3]
    counts = {
        i: len(tasks) for i, tasks in person.task_ids_by_dataset_id(annotator.project_id).items()
    }
    assert counts == {1: 1, 2: 1, 3: 1}


def test_collect_returns_each_label_once(label_studio, person, project_title):
    annotator = make_annotator(label_studio, project_title)
    annotator.request([0, 1, 2])
    person.annotate(task_of(person, annotator, 0), "spam")
    person.annotate(task_of(person, annotator, 1), "ham")

    first = annotator.collect(timeout=0)
    again = annotator.collect(timeout=0)
    person.annotate(task_of(person, annotator, 2), "spam")
    last = annotator.collect(timeout=10)

    assert first.labels == {0: 1, 1: 0}
    assert again.labels == {}
    assert last.labels == {2: 1}
    assert annotator.pending_ids.size == 0


def test_collect_waits_for_annotations(label_studio, person, project_title):
    annotator = make_annotator(label_studio, project_title)
    annotator.request([8, 9])
    tasks = [task_of(person, annotator, 8), task_of(person, annotator, 9)]

    def annotate_later() -> None:
        time.sleep(0.5)
        for task_id in tasks:
            person.annotate(task_id, "ham")

    worker = threading.Thread(target=annotate_later)
    started = time.monotonic()
    worker.start()
    outcome = annotator.collect(timeout=60)
    worker.join()

    assert outcome.labels == {8: 0, 9: 0}
    assert time.monotonic() - started < 30


def test_skipped_task_returns_to_pool(label_studio, person, project_title):
    annotator = make_annotator(label_studio, project_title)
    annotator.request([4])
    task_id = task_of(person, annotator, 4)
    person.skip(task_id)

    skipped = annotator.collect(timeout=0)
    resent = annotator.request([4])
    after_request = annotator.collect(timeout=0)
    person.annotate(task_id, "ham")
    labelled = annotator.collect(timeout=0)

    assert skipped.returned == (4,)
    assert skipped.labels == {}
    assert resent.tolist() == [4]
    assert person.task_ids_by_dataset_id(annotator.project_id) == {4: [task_id]}
    assert after_request.returned == ()
    assert labelled.labels == {4: 0}


def test_unknown_class_warned_not_applied(label_studio, person, project_title):
    annotator = make_annotator(label_studio, project_title)
    annotator.request([6])
    task_id = task_of(person, annotator, 6)
    person.annotate(task_id, "eggs")

    with pytest.warns(AnnotationWarning, match=r"\(id 6\) chose 'eggs'"):
        outcome = annotator.collect(timeout=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        repeated = annotator.collect(timeout=0)
    person.annotate(task_id, "spam")
    fixed = annotator.collect(timeout=0)

    assert outcome.labels == {}
    assert repeated.labels == {}
    assert fixed.labels == {6: 1}


def test_foreign_tasks_warned_not_applied(label_studio, person, project_title):
    annotator = make_annotator(label_studio, project_title)
    annotator.request([1])
    person.import_tasks(
        annotator.project_id,
        [{"data": {"text": "added by hand"}}, {"data": {"text": "copied", "energizer_id": 30}}],
    )
    for task in person.tasks(annotator.project_id):
        person.annotate(task["id"], "spam")

    with pytest.warns(AnnotationWarning) as record:
        outcome = annotator.collect(timeout=0)

    messages = [str(warning.message) for warning in record]
    assert any("has no 'energizer_id'" in message for message in messages)
    assert any(
        "energizer_id=30" in message and "never requested" in message for message in messages
    )
    assert outcome.labels == {1: 1}


def test_restart_resumes_without_duplicates(label_studio, person, project_title):
    first = make_annotator(label_studio, project_title)
    first.request(range(6), predictions=[0, 1, 0, 1, 0, 1])
    person.annotate(task_of(person, first, 0), "ham")
    person.annotate(task_of(person, first, 1), "spam")
    saved = dict(first.collect(timeout=0).labels)
    # Annotated while the caller is down, after its last save.
    person.annotate(task_of(person, first, 2), "spam")

    second = make_annotator(label_studio, project_title)
    second.mark_labelled(list(saved))
    resent = second.request(range(6))
    resumed = second.collect(timeout=0)
    for dataset_id in (3, 4, 5):
        person.annotate(task_of(person, second, dataset_id), "ham")
    rest = second.collect(timeout=10)

    assert saved == {0: 0, 1: 1}
    assert resent.size == 0
    assert resumed.labels == {2: 1}
    assert rest.labels == {3: 0, 4: 0, 5: 0}
    counts = {
        i: len(tasks) for i, tasks in person.task_ids_by_dataset_id(second.project_id).items()
    }
    assert counts == {i: 1 for i in range(6)}


def test_server_restart_mid_run(label_studio, person, project_title, caplog):
    caplog.set_level(logging.INFO, logger="energizer")
    annotator = make_annotator(label_studio, project_title)
    annotator.request(range(4))
    person.annotate(task_of(person, annotator, 0), "spam")
    received = [annotator.collect(timeout=0)]
    restarter: threading.Thread | None = None
    try:
        label_studio.stop()
        received.append(annotator.collect(timeout=1.0))
        assert "did not respond" in caplog.text

        # The request retries while the server is down and goes through once it is back.
        restarter = threading.Thread(target=lambda: (time.sleep(1.5), label_studio.start()))
        restarter.start()
        resent = annotator.request([4, 5])
        restarter.join()
        assert resent.tolist() == [4, 5]
        assert "responds again" in caplog.text

        # A collect that spans a second outage returns the labels given after it.
        label_studio.stop()

        def restart_and_annotate() -> None:
            time.sleep(1.0)
            label_studio.start()
            for dataset_id in range(1, 6):
                person.annotate(task_of(person, annotator, dataset_id), CLASSES[dataset_id % 2])

        restarter = threading.Thread(target=restart_and_annotate)
        restarter.start()
        received.append(annotator.collect(timeout=120))
        restarter.join()
    finally:
        if restarter is not None:
            restarter.join()
        if not label_studio.healthy():
            label_studio.start()

    labelled = [dataset_id for outcome in received for dataset_id in outcome.labels]
    assert sorted(labelled) == list(range(6))
    assert received[1].labels == {}
    assert received[2].labels == {i: i % 2 for i in range(1, 6)}
    counts = {
        i: len(tasks) for i, tasks in person.task_ids_by_dataset_id(annotator.project_id).items()
    }
    assert counts == {i: 1 for i in range(6)}
    assert label_studio.token not in caplog.text


def test_token_stays_out_of_logs_and_reprs(label_studio, person, project_title, caplog):
    caplog.set_level(logging.DEBUG)
    annotator = make_annotator(label_studio, project_title)
    annotator.request([0])
    person.annotate(task_of(person, annotator, 0), "ham")
    annotator.collect(timeout=0)

    assert label_studio.token not in caplog.text
    assert label_studio.token not in repr(annotator)
    assert label_studio.token not in repr(vars(annotator))
    assert label_studio.token not in repr(vars(annotator._client))


def test_wrong_token_rejected_and_hidden(label_studio, project_title):
    wrong = "f" * 40
    annotator = make_annotator(label_studio, project_title, token=wrong)

    with pytest.raises(AnnotationError, match="HTTP 401") as caught:
        annotator.connect()

    assert wrong not in str(caught.value)
    assert "--enable-legacy-api-token" in str(caught.value)


def test_personal_access_token(label_studio, person, project_title, caplog):
    caplog.set_level(logging.DEBUG)
    personal_token = person.create_personal_access_token()
    annotator = make_annotator(label_studio, project_title, token=personal_token)

    annotator.request([2])
    person.annotate(task_of(person, annotator, 2), "spam")
    outcome = annotator.collect(timeout=0)

    assert outcome.labels == {2: 1}
    assert personal_token not in caplog.text
    assert personal_token not in repr(vars(annotator._client))


def test_image_items(label_studio, person, project_title):
    urls = [f"http://127.0.0.1:9/images/{i}.png" for i in range(5)]
    annotator = make_annotator(label_studio, project_title, items=urls, data_kind="image")

    annotator.request([1, 3], predictions=[0, 1])
    person.annotate(task_of(person, annotator, 3), "spam", to_name="image")
    outcome = annotator.collect(timeout=0)

    assert '<Image name="image" value="$image"' in person.project(project_title)["label_config"]
    tasks = {
        task["data"]["energizer_id"]: task["data"] for task in person.tasks(annotator.project_id)
    }
    assert tasks[1]["image"] == urls[1]
    assert outcome.labels == {3: 1}


def test_table_items(label_studio, person, project_title):
    rows = np.arange(12.0).reshape(4, 3)
    annotator = make_annotator(label_studio, project_title, items=rows, data_kind="table")

    annotator.request([2])
    person.annotate(task_of(person, annotator, 2), "ham", to_name="table")
    outcome = annotator.collect(timeout=0)

    assert '<Table name="table" value="$table"' in person.project(project_title)["label_config"]
    (task,) = person.tasks(annotator.project_id)
    assert task["data"]["table"] == {"0": 6.0, "1": 7.0, "2": 8.0}
    assert outcome.labels == {2: 0}


def test_custom_label_config(label_studio, person, project_title):
    config = (
        '<View><Header value="Review"/><Text name="review" value="$review"/>'
        '<Choices name="sentiment" toName="review" choice="single">'
        '<Choice value="negative"/><Choice value="positive"/></Choices></View>'
    )
    annotator = make_annotator(
        label_studio,
        project_title,
        items=lambda i: {"review": f"review {i}", "stars": i % 5},
        class_names=None,
        label_config=config,
    )

    annotator.request([7], predictions=[1])
    person.annotate(
        task_of(person, annotator, 7), "negative", from_name="sentiment", to_name="review"
    )
    outcome = annotator.collect(timeout=0)

    (task,) = person.tasks(annotator.project_id)
    assert task["data"] == {"review": "review 7", "stars": 2, "energizer_id": 7}
    assert task["predictions"][0]["result"][0]["from_name"] == "sentiment"
    assert annotator.class_names == ("negative", "positive")
    assert outcome.labels == {7: 0}


def test_existing_project_by_id_and_title(label_studio, person, project_title):
    creator = make_annotator(label_studio, project_title)
    creator.connect()

    by_id = make_annotator(
        label_studio, project_title, project=creator.project_id, class_names=None
    )
    by_id.connect()
    by_title = make_annotator(label_studio, project_title, class_names=None)
    by_title.connect()

    assert by_id.project_id == creator.project_id
    assert by_title.project_id == creator.project_id
    assert by_title.class_names == tuple(CLASSES)


def test_existing_project_with_other_classes(label_studio, project_title):
    make_annotator(label_studio, project_title).connect()
    other = make_annotator(label_studio, project_title, class_names=["cat", "dog"])

    with pytest.raises(InvalidArgumentError, match="class_names"):
        other.connect()


def test_missing_project_id(label_studio, project_title):
    annotator = make_annotator(label_studio, project_title, project=987654)

    with pytest.raises(AnnotationError, match="HTTP 404"):
        annotator.connect()


def test_existing_project_without_choices(label_studio, person, project_title):
    config = (
        '<View><Text name="text" value="$text"/>'
        '<Labels name="entity" toName="text"><Label value="Person"/></Labels></View>'
    )
    person.create_project(project_title, config)
    annotator = make_annotator(label_studio, project_title)

    with pytest.raises(InvalidArgumentError, match="Invalid `project`.*0 <Choices> tags"):
        annotator.connect()


def test_deleted_task_warns(label_studio, person, project_title):
    annotator = make_annotator(label_studio, project_title)
    annotator.request([1, 2])
    person.delete_task(task_of(person, annotator, 2))

    with pytest.warns(AnnotationWarning, match="id 2 was requested but has no task"):
        annotator.collect(timeout=0)
    annotator.cancel([2])
    resent = annotator.request([2])

    assert resent.tolist() == [2]
    assert sorted(person.task_ids_by_dataset_id(annotator.project_id)) == [1, 2]
