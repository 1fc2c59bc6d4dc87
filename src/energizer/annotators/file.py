"""The file annotator: people fill in the labels of a CSV or JSON Lines file."""

from __future__ import annotations

import logging
import math
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np

from energizer.annotators.base import Annotations, AnnotationWarning, Annotator
from energizer.annotators.class_names import check_class_names
from energizer.annotators.file_formats import (
    FileFormat,
    LabelTable,
    file_version,
    read_table,
    write_atomically,
)
from energizer.errors import AnnotationError, InvalidArgumentError

__all__ = ["FileAnnotator"]

log = logging.getLogger(__name__)

# Attempts to write the file when someone saves it between the read and the write.
_WRITE_ATTEMPTS = 5


class _Skipped:
    """The outcome of a row whose label is the skip word."""


_SKIPPED = _Skipped()


class FileAnnotator(Annotator):
    """Exchange labels with people through a CSV or JSON Lines file.

    :meth:`request` adds one row per new id with the columns ``id``,
    ``prediction``, ``score`` and ``label``, the label empty. People fill in
    the ``label`` column in any tool that edits the file (a spreadsheet, a
    text editor) and save it. :meth:`collect` reads the file back and
    returns the rows whose label is filled in. A label is a class name when
    the annotator has ``class_names``, and a class index otherwise. The word
    ``skip`` (``skip_label``, in any case) sends the id back to the pool.

    The file is never written in place: each write goes to a file beside it
    that then replaces it, so a reader or a killed process never reads half a
    file. Rows, columns and cells that people added are kept. A CSV file
    keeps its delimiter (comma, semicolon or tab) and line endings.

    Rows already in the file when the annotator is built count as requests
    of an earlier run, and their labels are collected (see
    :class:`~energizer.annotators.base.Annotator` for the restart contract).
    A label that cannot be applied raises an
    :class:`~energizer.annotators.base.AnnotationWarning` naming the line,
    the id and the value, once per value: an unknown class, an id that was
    never requested, a row whose id is not a dataset id, or rows of one id
    whose labels disagree.

    Args:
        path: The labelling file. It is created on the first request.
        class_names: Name of each class, in class order. ``None`` makes
            labels plain class indices.
        format: ``"csv"`` or ``"jsonl"``. ``None`` picks ``"jsonl"`` for a
            ``.jsonl`` or ``.ndjson`` suffix and ``"csv"`` otherwise.
        num_classes: Number of classes, to check class indices, when
            ``class_names`` is ``None``.
        skip_label: The label that returns an id to the pool.
        poll_interval: First seconds between two reads while :meth:`collect`
            waits; doubles while nothing changes.
        max_poll_interval: Maximum seconds between two reads.

    Raises:
        InvalidArgumentError: An argument has an invalid value.
        AnnotationError: The file exists but cannot be read, or a CSV file
            has no ``id`` or ``label`` column.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        class_names: Sequence[str] | None = None,
        *,
        format: Literal["csv", "jsonl"] | None = None,
        num_classes: int | None = None,
        skip_label: str = "skip",
        poll_interval: float = 2.0,
        max_poll_interval: float = 30.0,
    ) -> None:
        super().__init__(poll_interval=poll_interval, max_poll_interval=max_poll_interval)
        self.path = Path(path)
        self.class_names = check_class_names(class_names)
        self.file_format: FileFormat = _check_format(format, self.path)
        self._num_classes = _check_num_classes(num_classes, self.class_names)
        self.skip_label = _check_skip_label(skip_label, self.class_names)
        self._name_to_class = {name: index for index, name in enumerate(self.class_names or ())}
        self._requested: set[int] = set()
        self._warned: set[tuple[Any, ...]] = set()
        if self.path.exists():
            table, _ = read_table(self.path, self.file_format)
            found = {_parse_id(row.id_value) for row in table.rows() if row.problem is None}
            found.discard(None)
            self._requested.update(found)
            self._adopt(found)
            if found:
                log.info("Resuming %d requests found in %s.", len(found), self.path)

    def __repr__(self) -> str:
        return (
            f"FileAnnotator(path={str(self.path)!r}, format={self.file_format!r}, "
            f"pending={len(self._pending)})"
        )

    @property
    def num_classes(self) -> int | None:
        """Number of classes: ``len(class_names)``, the ``num_classes`` argument, or ``None`` without either."""
        return self._num_classes

    def _send(
        self, ids: np.ndarray, predictions: np.ndarray | None, scores: np.ndarray | None
    ) -> None:
        predicted = self._predictions_as_written(predictions, ids.size)
        score_list = [None] * ids.size if scores is None else [float(score) for score in scores]
        for _ in range(_WRITE_ATTEMPTS):
            table, version = read_table(self.path, self.file_format)
            self._add_requests(table, ids.tolist(), predicted, score_list)
            # NOTE: a save that lands between this check and the rename is
            # still overwritten; the check makes that window microseconds wide.
            if file_version(self.path) == version:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_atomically(self.path, table.render())
                break
            log.info("%s changed while requests were added; reading it again.", self.path)
        else:
            raise AnnotationError(
                f"The labelling file {str(self.path)!r} changed during each of "
                f"{_WRITE_ATTEMPTS} attempts to add requests. "
                "Stop the program that rewrites it, then request again."
            )
        self._requested.update(ids.tolist())
        log.info("Added %d rows to %s.", ids.size, self.path)

    def _add_requests(
        self,
        table: LabelTable,
        ids: list[int],
        predictions: list[str | int | None],
        scores: list[float | None],
    ) -> None:
        # An id that already has rows (it was skipped, or someone added it)
        # keeps them: its label stays, unless it is the skip word.
        rows_of_id: dict[int, list[int]] = {}
        skipped: set[int] = set()
        for index, row in enumerate(table.rows()):
            dataset_id = _parse_id(row.id_value) if row.problem is None else None
            if dataset_id is not None:
                rows_of_id.setdefault(dataset_id, []).append(index)
                if self._is_skip(row.label_value):
                    skipped.add(index)
        for dataset_id, prediction, score in zip(ids, predictions, scores):
            for index in rows_of_id.get(dataset_id, []):
                table.update(index, prediction, score, clear_label=index in skipped)
            if dataset_id not in rows_of_id:
                table.append(dataset_id, prediction, score)

    def _poll(self, deadline: float | None) -> Annotations:
        if not self.path.exists():
            if self._pending:
                raise AnnotationError(
                    f"The labelling file {str(self.path)!r} is missing, but "
                    f"{len(self._pending)} requested items have no label yet. "
                    "Restore the file, or cancel the items and request them again."
                )
            return Annotations()
        try:
            table, _ = read_table(self.path, self.file_format)
        except AnnotationError as error:
            # A spreadsheet in the middle of a save can leave bytes that are not text yet.
            self._warn(("unreadable", str(error)), f"{error} Reading it again at the next poll.")
            return Annotations()
        outcomes: dict[int, dict[Any, list[int]]] = {}
        rows = table.rows()
        self._warn_missing_rows({_parse_id(row.id_value) for row in rows if row.problem is None})
        for row in rows:
            if row.problem is not None:
                self._warn(
                    ("problem", row.line, row.problem),
                    f"line {row.line} is skipped: {row.problem}.",
                )
                continue
            if _is_empty(row.label_value):
                continue
            dataset_id = _parse_id(row.id_value)
            if dataset_id is None:
                self._warn(
                    ("id", row.line, repr(row.id_value)),
                    f"line {row.line} has the label {row.label_value!r} but its id "
                    f"{row.id_value!r} is not a dataset id (an integer >= 0); not applied.",
                )
                continue
            if dataset_id not in self._requested:
                self._warn(
                    ("unrequested", dataset_id, repr(row.label_value)),
                    f"line {row.line} labels id {dataset_id}, which was never requested; "
                    "not applied.",
                )
                continue
            if dataset_id not in self._pending:
                continue
            outcome = self._parse_label(row.label_value, dataset_id, row.line)
            if outcome is not None:
                outcomes.setdefault(dataset_id, {}).setdefault(outcome, []).append(row.line)
        return self._agreed(outcomes)

    def _warn_missing_rows(self, ids_in_file: set[int | None]) -> None:
        for dataset_id in sorted(self._pending - ids_in_file):
            self._warn(
                ("missing", dataset_id),
                f"id {dataset_id} was requested but has no row any more. "
                "Restore the row, or cancel the id and request it again to add a row.",
            )

    def _agreed(self, outcomes: dict[int, dict[Any, list[int]]]) -> Annotations:
        labels: dict[int, int] = {}
        returned: list[int] = []
        for dataset_id, lines_of_outcome in outcomes.items():
            if len(lines_of_outcome) > 1:
                described = sorted(self._describe(outcome) for outcome in lines_of_outcome)
                self._warn(
                    ("conflict", dataset_id, tuple(described)),
                    f"id {dataset_id} has rows with different labels {described}; "
                    "not applied until they agree.",
                )
                continue
            (outcome,) = lines_of_outcome
            if outcome is _SKIPPED:
                returned.append(dataset_id)
            else:
                labels[dataset_id] = outcome
        return Annotations(labels=labels, returned=tuple(sorted(returned)))

    def _parse_label(self, value: Any, dataset_id: int, line: int) -> int | _Skipped | None:
        if self._is_skip(value):
            return _SKIPPED
        if self.class_names is not None:
            if isinstance(value, str) and value.strip() in self._name_to_class:
                return self._name_to_class[value.strip()]
            self._warn(
                ("label", dataset_id, repr(value)),
                f"line {line}: the label {value!r} of id {dataset_id} is not a class name; "
                f"expected one of {list(self.class_names)} or {self.skip_label!r}. Not applied.",
            )
            return None
        label = _parse_index(value)
        if label is None or (self.num_classes is not None and label >= self.num_classes):
            expected = (
                "a class index >= 0"
                if self.num_classes is None
                else f"a class index in [0, {self.num_classes})"
            )
            self._warn(
                ("label", dataset_id, repr(value)),
                f"line {line}: the label {value!r} of id {dataset_id} is not a class; "
                f"expected {expected} or {self.skip_label!r}. Not applied.",
            )
            return None
        return label

    def _describe(self, outcome: int | _Skipped) -> str:
        if isinstance(outcome, _Skipped):
            return self.skip_label
        return str(outcome) if self.class_names is None else self.class_names[outcome]

    def _is_skip(self, value: Any) -> bool:
        return isinstance(value, str) and value.strip().lower() == self.skip_label.lower()

    def _predictions_as_written(
        self, predictions: np.ndarray | None, size: int
    ) -> list[str | int | None]:
        if predictions is None:
            return [None] * size
        limit = len(self.class_names) if self.class_names is not None else self.num_classes
        if limit is not None and (predictions >= limit).any():
            raise InvalidArgumentError(
                "predictions",
                f"class indices in [0, {limit})",
                predictions[predictions >= limit][:10].tolist(),
                "Pass predictions that index the annotator's classes.",
            )
        if self.class_names is None:
            return [int(prediction) for prediction in predictions]
        return [self.class_names[prediction] for prediction in predictions]

    def _warn(self, key: tuple[Any, ...], message: str) -> None:
        if key not in self._warned:
            self._warned.add(key)
            warnings.warn(f"{self.path}: {message}", AnnotationWarning, stacklevel=4)


def _check_format(file_format: Any, path: Path) -> FileFormat:
    if file_format is None:
        return "jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "csv"
    if file_format not in ("csv", "jsonl"):
        raise InvalidArgumentError(
            "format", "'csv' or 'jsonl'", repr(file_format), "Pass format='csv' or 'jsonl'."
        )
    return file_format


def _check_num_classes(num_classes: Any, class_names: tuple[str, ...] | None) -> int | None:
    if num_classes is None:
        return None if class_names is None else len(class_names)
    if isinstance(num_classes, bool) or not isinstance(num_classes, int) or num_classes < 1:
        raise InvalidArgumentError(
            "num_classes", "a positive integer", num_classes, "Pass the number of classes."
        )
    if class_names is not None and num_classes != len(class_names):
        raise InvalidArgumentError(
            "num_classes",
            f"the number of class names ({len(class_names)})",
            num_classes,
            "Pass class_names alone; their number sets num_classes.",
        )
    return num_classes


def _check_skip_label(skip_label: Any, class_names: tuple[str, ...] | None) -> str:
    if not isinstance(skip_label, str) or not skip_label.strip():
        raise InvalidArgumentError(
            "skip_label", "a non-empty string", repr(skip_label), "Pass a word such as 'skip'."
        )
    if any(name.lower() == skip_label.strip().lower() for name in class_names or ()):
        raise InvalidArgumentError(
            "skip_label",
            "a word that is not a class name",
            repr(skip_label),
            "Pass another skip_label, such as 'skip-item'.",
        )
    if _parse_index(skip_label) is not None:
        raise InvalidArgumentError(
            "skip_label",
            "a word that is not a class index",
            repr(skip_label),
            "Pass a word such as 'skip'.",
        )
    return skip_label.strip()


def _is_empty(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _parse_index(value: Any) -> int | None:
    """Return ``value`` as an integer >= 0 (``3``, ``"3"``, ``3.0``, ``"3.0"``), or ``None``."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value.strip()
        try:
            value = int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return None
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer():
            return None
        value = int(value)
    if not isinstance(value, int) or value < 0:
        return None
    return value


def _parse_id(value: Any) -> int | None:
    return _parse_index(value)
