"""The Label Studio annotator: queried items become tasks of a Label Studio project."""

from __future__ import annotations

import json
import logging
import math
import os
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from energizer.annotators._checks import check_positive_seconds, check_seconds
from energizer.annotators.base import Annotations, AnnotationWarning, Annotator
from energizer.annotators.class_names import check_class_names
from energizer.annotators.label_studio_checks import (
    TOKEN_VARIABLE,
    URL_VARIABLE,
    check_data_kind,
    check_items,
    check_project,
    check_same_classes,
    check_token,
    check_url,
)
from energizer.annotators.label_studio_client import (
    LabelStudioClient,
    LabelStudioUnavailableError,
    json_default,
)
from energizer.annotators.label_studio_config import (
    ChoicesTag,
    DataKind,
    build_label_config,
    parse_label_config,
)
from energizer.errors import InvalidArgumentError

__all__ = ["ID_KEY", "URL_VARIABLE", "TOKEN_VARIABLE", "LabelStudioAnnotator"]

log = logging.getLogger(__name__)

# The task data key that stores the dataset id. Tasks without it are not ours.
ID_KEY = "energizer_id"

# Tasks per import call.
_IMPORT_CHUNK = 500


class LabelStudioAnnotator(Annotator):
    """Send queried items to a Label Studio project and read back people's choices.

    On first use the annotator finds the project: by id, or by title, which
    it creates when missing, with a labelling configuration built from
    ``data_kind`` and ``class_names`` (or ``label_config``). It adopts the
    project's tasks that carry a dataset id as requests of an earlier run.

    :meth:`request` imports one task per new id, whose data is the item's
    data plus ``{"energizer_id": id}``, with the model's prediction as a
    pre-annotation (a Label Studio prediction, with the score). Before each
    import it lists the project's tasks and imports only the ids that have
    none, so no id ever gets two tasks, even after a restart or an import
    whose response was lost. An id that was skipped and is requested again
    reuses its task, and the skips made before the new request no longer count.

    :meth:`collect` polls the project. A task's newest submitted annotation
    gives the label. A task with only skipped (cancelled) annotations
    returns its id to the pool. An annotation that names no known class, a
    task without ``energizer_id`` and a task for an id never requested
    raise an :class:`~energizer.annotators.base.AnnotationWarning`, once
    each, and are not applied.

    When the server does not respond, each call is retried with exponential
    backoff, from ``poll_interval`` to ``max_poll_interval`` seconds, and
    each retry is logged. :meth:`collect` stops retrying at its timeout and
    returns what it has. :meth:`request` and :meth:`connect` retry for
    ``retry_timeout`` seconds, forever by default. The token appears in no
    ``repr``, log line or exception message.

    Args:
        items: What people see for each dataset id. A sequence gives the
            value under the configuration's data key. ``items[id]`` is the
            text, the image URL (one that people's browsers can open), or
            the table row. A table row is a mapping of column names to
            values, or a sequence, shown with the columns ``"0"``, ``"1"``,
            and so on. A callable ``items(id)`` returns the whole task data
            as a mapping.
        class_names: Name of each class, in class order. ``None`` reads them
            from ``label_config`` or from the existing project.
        data_kind: ``"text"``, ``"image"`` or ``"table"``: what the built
            configuration shows. Ignored with ``label_config``.
        label_config: A Label Studio XML configuration with one
            ``<Choices>`` tag, to use instead of a built one.
        project: Title of the project to use or create, or the id of an
            existing project.
        url: The server's address, such as ``"http://127.0.0.1:8080"``.
            ``None`` reads ``ENERGIZER_LABEL_STUDIO_URL``.
        token: An API token: a personal access token or a legacy token.
            ``None`` reads ``ENERGIZER_LABEL_STUDIO_TOKEN``.
        model_version: The name under which predictions are shown.
        poll_interval: First seconds between two polls while
            :meth:`collect` waits, and before the first retry of a call.
        max_poll_interval: Maximum seconds between two polls or retries.
        request_timeout: Seconds to wait for the response to one HTTP call.
        retry_timeout: Seconds that :meth:`request` and :meth:`connect` keep
            retrying an unreachable server before raising. ``None`` retries
            until it responds.

    Raises:
        InvalidArgumentError: An argument has an invalid value, or the URL or
            the token is given neither as an argument nor in the environment.
    """

    def __init__(
        self,
        items: Sequence[Any] | Callable[[int], Mapping[str, Any]],
        *,
        class_names: Sequence[str] | None = None,
        data_kind: DataKind = "text",
        label_config: str | None = None,
        project: str | int = "energizer",
        url: str | None = None,
        token: str | None = None,
        model_version: str = "energizer",
        poll_interval: float = 5.0,
        max_poll_interval: float = 60.0,
        request_timeout: float = 30.0,
        retry_timeout: float | None = None,
    ) -> None:
        super().__init__(poll_interval=poll_interval, max_poll_interval=max_poll_interval)
        self.items = check_items(items)
        self.class_names = check_class_names(class_names)
        self.data_kind = check_data_kind(data_kind)
        self.label_config = label_config
        if label_config is not None:
            tag = parse_label_config(label_config)
            check_same_classes(self.class_names, tag.choices, "label_config")
        self.project = check_project(project)
        self.model_version = model_version
        self.retry_timeout = (
            None if retry_timeout is None else check_seconds("retry_timeout", retry_timeout)
        )
        self._client = LabelStudioClient(
            check_url(url if url is not None else os.environ.get(URL_VARIABLE)),
            check_token(token if token is not None else os.environ.get(TOKEN_VARIABLE)),
            request_timeout=check_positive_seconds("request_timeout", request_timeout),
            retry_delay=self.poll_interval,
            max_retry_delay=self.max_poll_interval,
        )
        self.url = self._client.shown_url
        self.project_id: int | None = None
        self._tag: ChoicesTag | None = None
        self._class_of_name: dict[str, int] = {}
        self._requested: set[int] = set()
        # Per id, the newest skipped annotation already reported or made
        # before the id's latest request; only newer skips count.
        self._skips_seen: dict[int, int] = {}
        self._warned: set[tuple[Any, ...]] = set()

    def __repr__(self) -> str:
        return (
            f"LabelStudioAnnotator(url={self.url!r}, project={self.project!r}, "
            f"project_id={self.project_id}, pending={len(self._pending)})"
        )

    @property
    def num_classes(self) -> int | None:
        """Number of class names, or ``None`` without ``class_names`` until :meth:`connect` reads the project's."""
        return None if self.class_names is None else len(self.class_names)

    def connect(self) -> None:
        """Find or create the project and adopt its tasks; later calls do nothing.

        :meth:`request` and :meth:`collect` connect on first use. Call it
        before long work to find a wrong URL, token or configuration early.

        Raises:
            AnnotationError: The server rejected the token or the project id,
                or stayed unreachable for ``retry_timeout`` seconds.
            InvalidArgumentError: The project's configuration has other
                classes than ``class_names``, or a new project is needed and
                ``class_names`` is missing.
        """
        if self.project_id is None:
            self._connect(self._retry_deadline())

    def _connect(self, deadline: float | None) -> None:
        if self.project_id is not None:
            return
        project = self._find_or_create_project(deadline)
        try:
            tag = parse_label_config(project.get("label_config", ""), argument="project")
        except InvalidArgumentError as error:
            raise InvalidArgumentError(
                "project",
                "a project whose labelling configuration has one <Choices> tag on a data tag",
                repr(self.project),
                "Use another project title, or give this project a classification "
                f"configuration. The check of its configuration reported: {error}",
            ) from error
        check_same_classes(self.class_names, tag.choices, "project")
        class_names = self.class_names or tag.choices
        self._class_of_name = {name: index for index, name in enumerate(class_names)}
        self.class_names = tuple(class_names)
        self._tag = tag
        tasks = self._client.list_tasks(project["id"], deadline)
        self.project_id = project["id"]
        self._adopt(self._tasks_by_id(tasks, adopt=True))
        log.info(
            "Using Label Studio project %d (%r) at %s: %d tasks, %d of them for pending ids.",
            project["id"],
            project.get("title"),
            self.url,
            len(tasks),
            len(self._pending),
        )

    def _find_or_create_project(self, deadline: float | None) -> dict[str, Any]:
        if isinstance(self.project, int):
            return self._client.get_project(self.project, deadline)
        found = self._client.find_projects(self.project, deadline)
        if found:
            if len(found) > 1:
                log.warning(
                    "%d Label Studio projects are titled %r; using the one with the lowest id, %d.",
                    len(found),
                    self.project,
                    found[0]["id"],
                )
            return found[0]
        if self.label_config is not None:
            config = self.label_config
        elif self.class_names is not None:
            config = build_label_config(self.data_kind, self.class_names)
        else:
            raise InvalidArgumentError(
                "class_names",
                "class names, to build the configuration of a new project",
                None,
                f"No project is titled {self.project!r}: pass class_names=[...] or "
                "label_config=... to create it.",
            )
        settings = {
            "title": self.project,
            "label_config": config,
            "model_version": self.model_version,
            "description": (
                "Items queried by energizer. Each task's data carries its dataset id "
                "as energizer_id."
            ),
        }
        project = self._client.create_project(settings, deadline)
        log.info(
            "Created Label Studio project %d (%r) at %s.", project["id"], self.project, self.url
        )
        return project

    def _prepare(self) -> None:
        self._connect(self._retry_deadline())

    def _send(
        self, ids: np.ndarray, predictions: np.ndarray | None, scores: np.ndarray | None
    ) -> None:
        assert self.project_id is not None and self.class_names is not None  # set by _connect
        if predictions is not None and (predictions >= len(self.class_names)).any():
            raise InvalidArgumentError(
                "predictions",
                f"class indices in [0, {len(self.class_names)})",
                predictions[predictions >= len(self.class_names)][:10].tolist(),
                f"Pass predictions that index the classes {list(self.class_names)}.",
            )
        tasks = {
            int(dataset_id): self._task(
                int(dataset_id),
                None if predictions is None else int(predictions[position]),
                None if scores is None else float(scores[position]),
            )
            for position, dataset_id in enumerate(ids)
        }

        # Requested before listing, so that tasks of these ids count as ours.
        self._requested.update(tasks)
        tasks_by_id, num_reused = self._import_missing(tasks, self._retry_deadline())

        # Skips made before this request belong to an earlier request of the id.
        for dataset_id in tasks:
            skips = [
                annotation["id"]
                for task in tasks_by_id[dataset_id]
                for annotation in _annotations(task)
                if _skipped(annotation)
            ]
            if skips:
                self._skips_seen[dataset_id] = max(skips)
        log.info(
            "Label Studio project %d has tasks for %d requested ids: %d imported, %d reused.",
            self.project_id,
            len(tasks),
            len(tasks) - num_reused,
            num_reused,
        )

    def _import_missing(
        self, tasks: dict[int, dict[str, Any]], deadline: float | None
    ) -> tuple[dict[int, list[dict[str, Any]]], int]:
        """Import the tasks whose id has none in the project yet, until every id has one.

        Returns:
            The project's tasks by dataset id, and how many ids of ``tasks``
            already had a task before the first import.
        """
        assert self.project_id is not None  # set by _connect
        delay = self.poll_interval
        num_reused: int | None = None
        while True:
            tasks_by_id = self._tasks_by_id(self._client.list_tasks(self.project_id, deadline))
            missing = [dataset_id for dataset_id in tasks if dataset_id not in tasks_by_id]
            if num_reused is None:
                num_reused = len(tasks) - len(missing)
            if not missing:
                return tasks_by_id, num_reused

            try:
                for start in range(0, len(missing), _IMPORT_CHUNK):
                    chunk = missing[start : start + _IMPORT_CHUNK]
                    self._client.import_tasks(self.project_id, [tasks[i] for i in chunk], deadline)
            except LabelStudioUnavailableError as error:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    raise
                wait = delay if remaining is None else min(delay, remaining)
                log.warning(
                    "Importing %d tasks into Label Studio project %d failed: %s "
                    "Listing the tasks again in %.1f s to import only the missing ones.",
                    len(missing),
                    self.project_id,
                    error,
                    wait,
                )
                time.sleep(wait)
                delay = min(2 * delay, self.max_poll_interval)

    def _task(self, dataset_id: int, prediction: int | None, score: float | None) -> dict[str, Any]:
        assert self._tag is not None and self.class_names is not None  # set by _connect
        data = self._task_data(dataset_id)
        task: dict[str, Any] = {"data": data}
        if prediction is not None:
            result = {
                "from_name": self._tag.from_name,
                "to_name": self._tag.to_name,
                "type": "choices",
                "value": {"choices": [self.class_names[prediction]]},
            }
            entry: dict[str, Any] = {"model_version": self.model_version, "result": [result]}
            if score is not None and math.isfinite(score):
                entry["score"] = score
            task["predictions"] = [entry]
        try:
            json.dumps(task, default=json_default)
        except (TypeError, ValueError) as error:
            raise InvalidArgumentError(
                "items",
                "task data made of strings, numbers, lists and mappings",
                f"data for id {dataset_id} that is not JSON ({error})",
                "Return plain Python values (or numpy values) from items.",
            ) from error
        return task

    def _task_data(self, dataset_id: int) -> dict[str, Any]:
        assert self._tag is not None  # set by _connect
        key = self._tag.data_key
        if callable(self.items):
            data = self.items(dataset_id)
            if not isinstance(data, Mapping) or key not in data:
                raise InvalidArgumentError(
                    "items",
                    f"a callable that returns a mapping with the key {key!r}",
                    f"{type(data).__name__} for id {dataset_id}",
                    f"Return the task data, such as {{{key!r}: ...}}.",
                )
            data = dict(data)
        else:
            if dataset_id >= len(self.items):
                raise InvalidArgumentError(
                    "ids",
                    f"dataset ids in [0, {len(self.items)}), the length of items",
                    dataset_id,
                    "Request ids that index items.",
                )
            value = self.items[dataset_id]
            if self._tag.object_tag == "Table":
                value = _table_row(value)
            data = {key: value}
        if ID_KEY in data and data[ID_KEY] != dataset_id:
            raise InvalidArgumentError(
                "items",
                f"task data without the key {ID_KEY!r}",
                f"data for id {dataset_id}",
                "Rename that key.",
            )
        data[ID_KEY] = dataset_id
        return data

    def _poll(self, deadline: float | None) -> Annotations:
        try:
            self._connect(deadline)
            assert self.project_id is not None  # set by _connect
            # NOTE: every poll lists all of the project's tasks, so its cost
            # grows with the project, labelled tasks included.
            tasks = self._client.list_tasks(self.project_id, deadline)
        except LabelStudioUnavailableError as error:
            log.warning("No labels collected this time: %s", error)
            return Annotations()
        tasks_by_id = self._tasks_by_id(tasks)
        for dataset_id in sorted(self._pending - set(tasks_by_id)):
            self._warn(
                ("missing", dataset_id),
                f"id {dataset_id} was requested but has no task in project "
                f"{self.project_id} any more. "
                "Cancel the id with cancel() and request it again to import a new task.",
            )
        labels: dict[int, int] = {}
        returned: list[int] = []
        for dataset_id, id_tasks in tasks_by_id.items():
            if dataset_id not in self._pending:
                continue
            outcome = self._outcome(dataset_id, id_tasks)
            if outcome == "skipped":
                returned.append(dataset_id)
            elif outcome is not None:
                labels[dataset_id] = outcome
        return Annotations(labels=labels, returned=tuple(sorted(returned)))

    def _outcome(self, dataset_id: int, tasks: list[dict[str, Any]]) -> int | str | None:
        """Return the class of the id's newest submitted annotation, ``"skipped"``, or ``None``."""
        pairs = [(task, annotation) for task in tasks for annotation in _annotations(task)]
        submitted = [(task, a) for task, a in pairs if not _skipped(a)]
        if submitted:
            task, annotation = max(
                submitted, key=lambda pair: (str(pair[1].get("updated_at") or ""), pair[1]["id"])
            )
            return self._class_of(dataset_id, task, annotation)
        skips = [
            a["id"]
            for _, a in pairs
            if _skipped(a) and a["id"] > self._skips_seen.get(dataset_id, 0)
        ]
        if skips:
            self._skips_seen[dataset_id] = max(skips)
            return "skipped"
        return None

    def _class_of(
        self, dataset_id: int, task: dict[str, Any], annotation: dict[str, Any]
    ) -> int | None:
        assert self._tag is not None  # set by _connect
        chosen = [
            choice
            for result in annotation.get("result") or []
            if result.get("from_name") == self._tag.from_name and result.get("type") == "choices"
            for choice in (result.get("value") or {}).get("choices") or []
        ]
        where = f"annotation {annotation['id']} of task {task['id']} (id {dataset_id})"
        if len(chosen) != 1:
            self._warn(
                ("choices", annotation["id"], tuple(chosen)),
                f"{where} chose {len(chosen)} classes {chosen} in {self._tag.from_name!r}, "
                "not one; not applied until it is fixed in Label Studio.",
            )
            return None
        if chosen[0] not in self._class_of_name:
            self._warn(
                ("class", annotation["id"], chosen[0]),
                f"{where} chose {chosen[0]!r}, which is not one of the classes "
                f"{list(self._class_of_name)}; "
                "not applied until it is fixed in Label Studio.",
            )
            return None
        return self._class_of_name[chosen[0]]

    def _tasks_by_id(
        self, tasks: list[dict[str, Any]], adopt: bool = False
    ) -> dict[int, list[dict[str, Any]]]:
        """Group our tasks by dataset id; warn once per task without an id or for an unrequested id.

        With ``adopt``, every dataset id found counts as requested: a request of an earlier run.
        """
        grouped: dict[int, list[dict[str, Any]]] = {}
        for task in tasks:
            dataset_id = _dataset_id(task)
            if dataset_id is None:
                self._warn(
                    ("not ours", task["id"]),
                    f"task {task['id']} of project {self.project_id} has no {ID_KEY!r} "
                    "in its data, "
                    "so energizer did not import it; its annotations are not applied.",
                )
                continue
            if adopt:
                self._requested.add(dataset_id)
            if dataset_id not in self._requested:
                self._warn(
                    ("unrequested", task["id"]),
                    f"task {task['id']} of project {self.project_id} carries "
                    f"{ID_KEY}={dataset_id}, "
                    "an id that was never requested; its annotations are not applied.",
                )
                continue
            grouped.setdefault(dataset_id, []).append(task)
        return grouped

    def _retry_deadline(self) -> float | None:
        return None if self.retry_timeout is None else time.monotonic() + self.retry_timeout

    def _warn(self, key: tuple[Any, ...], message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"Label Studio: {message}", AnnotationWarning, stacklevel=4)


def _annotations(task: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [
        annotation
        for annotation in task.get("annotations") or []
        if isinstance(annotation, Mapping)
    ]


def _skipped(annotation: Mapping[str, Any]) -> bool:
    return bool(annotation.get("was_cancelled"))


def _dataset_id(task: Mapping[str, Any]) -> int | None:
    value = (task.get("data") or {}).get(ID_KEY)
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    if isinstance(value, int) and value >= 0:
        return value
    return None


def _table_row(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, (list, tuple)):
        return {str(column): cell for column, cell in enumerate(value)}
    return value
