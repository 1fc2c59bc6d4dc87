"""The labelling file as a table, in CSV or JSON Lines, and its atomic replacement.

A table keeps every cell, column and row that people wrote, including ones
it does not know, so that rewriting the file to add requests loses nothing.
"""

from __future__ import annotations

import csv
import io
import json
import os
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from energizer.errors import AnnotationError

__all__ = [
    "COLUMNS",
    "CsvTable",
    "FileRow",
    "JsonlTable",
    "LabelTable",
    "file_version",
    "read_table",
    "write_atomically",
]

FileFormat = Literal["csv", "jsonl"]

# Reads of a file that changed while it was read, before its content is taken as it is.
_READ_ATTEMPTS = 10

# Seconds that a file must stay unchanged before it is read: a guess at the
# longest time that an editor takes to write a labelling file in place.
_SETTLE_SECONDS = 0.1

# Columns of a new file. Only `id` and `label` must stay: people may delete,
# reorder or add columns.
COLUMNS = ("id", "prediction", "score", "label")


@dataclass(frozen=True)
class FileRow:
    """One row of the file, as written: raw cell values, not yet checked.

    Attributes:
        line: Line number in the file, from 1, for messages.
        id_value: The ``id`` cell.
        label_value: The ``label`` cell: ``""`` or ``None`` when empty.
        problem: Why the row could not be read (a JSON line that is not an
            object), or ``None``.
    """

    line: int
    id_value: Any
    label_value: Any
    problem: str | None = None


class LabelTable(ABC):
    """Rows of the labelling file, editable in place and rendered back to text."""

    @abstractmethod
    def rows(self) -> list[FileRow]:
        """Return the rows in file order. Row ``i`` is the one that :meth:`update` calls ``i``."""

    @abstractmethod
    def append(self, dataset_id: int, prediction: str | int | None, score: float | None) -> None:
        """Add a row for ``dataset_id`` with an empty label."""

    @abstractmethod
    def update(
        self, index: int, prediction: str | int | None, score: float | None, clear_label: bool
    ) -> None:
        """Set the prediction and score of row ``index``; empty its label if ``clear_label``."""

    @abstractmethod
    def render(self) -> str:
        """Return the file's new text."""


class CsvTable(LabelTable):
    """A CSV file with a header row, as spreadsheet tools write it.

    The delimiter (comma, semicolon or tab) and the line ending of an
    existing file are kept, and a UTF-8 byte order mark is accepted.
    """

    def __init__(
        self,
        header: list[str],
        cells: list[list[str]],
        lines: list[int],
        delimiter: str,
        newline: str,
    ):
        self._header = header
        self._cells = cells
        self._lines = lines
        self._delimiter = delimiter
        self._newline = newline
        self._columns = {name.strip().lower(): index for index, name in enumerate(header)}

    @classmethod
    def parse(cls, text: str, path: Path) -> CsvTable:
        """Parse ``text``, the content of ``path``; an empty text gives the :data:`COLUMNS`.

        Raises:
            AnnotationError: The header has no ``id`` or no ``label`` column.
        """
        newline = "\r\n" if "\r\n" in text else "\n"
        if not text.strip():
            return cls(list(COLUMNS), [], [], ",", newline)
        first_line = text.lstrip().splitlines()[0]
        delimiter = max(",;\t", key=first_line.count)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
        header: list[str] | None = None
        cells: list[list[str]] = []
        lines: list[int] = []
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if header is None:
                header = row
            else:
                cells.append(row)
                lines.append(reader.line_num)
        if header is None:
            return cls(list(COLUMNS), [], [], delimiter, newline)
        table = cls(header, cells, lines, delimiter, newline)
        for required in ("id", "label"):
            if required not in table._columns:
                raise AnnotationError(
                    f"The labelling file {str(path)!r} has no {required!r} column: "
                    f"its header is {header}. "
                    f"Restore the {required!r} column, or move the file away to start a new one."
                )
        return table

    def rows(self) -> list[FileRow]:
        return [
            FileRow(line, self._cell(row, "id"), self._cell(row, "label"))
            for line, row in zip(self._lines, self._cells)
        ]

    def append(self, dataset_id: int, prediction: str | int | None, score: float | None) -> None:
        row = [""] * len(self._header)
        self._cells.append(row)
        self._lines.append(0)
        self._set(row, "id", str(dataset_id))
        self._set(row, "prediction", "" if prediction is None else str(prediction))
        self._set(row, "score", "" if score is None else format(score, ".6g"))

    def update(
        self, index: int, prediction: str | int | None, score: float | None, clear_label: bool
    ) -> None:
        row = self._cells[index]
        row.extend([""] * (len(self._header) - len(row)))
        self._set(row, "prediction", "" if prediction is None else str(prediction))
        self._set(row, "score", "" if score is None else format(score, ".6g"))
        if clear_label:
            self._set(row, "label", "")

    def render(self) -> str:
        buffer = io.StringIO()
        writer = csv.writer(buffer, delimiter=self._delimiter, lineterminator=self._newline)
        writer.writerow(self._header)
        writer.writerows(self._cells)
        return buffer.getvalue()

    def _cell(self, row: list[str], column: str) -> str:
        index = self._columns[column]
        return row[index] if index < len(row) else ""

    def _set(self, row: list[str], column: str, value: str) -> None:
        # A column that people deleted stays deleted.
        index = self._columns.get(column)
        if index is not None:
            row[index] = value


class JsonlTable(LabelTable):
    """A JSON Lines file: one JSON object per line, with ``id`` and ``label`` keys.

    Lines that are not JSON objects are kept as they are and reported as
    rows with a problem.
    """

    def __init__(self, lines: list[str], objects: list[dict[str, Any] | None], numbers: list[int]):
        self._lines = lines
        self._objects = objects
        self._numbers = numbers

    @classmethod
    def parse(cls, text: str) -> JsonlTable:
        """Parse ``text``; blank lines are dropped."""
        lines: list[str] = []
        objects: list[dict[str, Any] | None] = []
        numbers: list[int] = []
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError:
                value = None
            lines.append(line)
            objects.append(value if isinstance(value, dict) else None)
            numbers.append(number)
        return cls(lines, objects, numbers)

    def rows(self) -> list[FileRow]:
        rows = []
        for line, number, value in zip(self._lines, self._numbers, self._objects):
            if value is None:
                rows.append(
                    FileRow(number, None, None, problem=f"it is not a JSON object: {line[:80]!r}")
                )
            else:
                rows.append(FileRow(number, value.get("id"), value.get("label")))
        return rows

    def append(self, dataset_id: int, prediction: str | int | None, score: float | None) -> None:
        value = {"id": dataset_id, "prediction": prediction, "score": score, "label": None}
        self._lines.append(json.dumps(value, ensure_ascii=False))
        self._objects.append(value)
        self._numbers.append(0)

    def update(
        self, index: int, prediction: str | int | None, score: float | None, clear_label: bool
    ) -> None:
        value = self._objects[index]
        assert value is not None  # only rows with an id are updated
        value["prediction"] = prediction
        value["score"] = score
        if clear_label:
            value["label"] = None
        self._lines[index] = json.dumps(value, ensure_ascii=False)

    def render(self) -> str:
        return "".join(line + "\n" for line in self._lines)


def read_table(path: Path, file_format: FileFormat) -> tuple[LabelTable, tuple[int, int] | None]:
    """Read the labelling file; a missing file gives an empty table.

    Returns:
        The table, and the file's ``(st_mtime_ns, st_size)`` when it was read,
        ``None`` when it is missing, so that a writer can tell whether
        someone saved the file in between.

    Raises:
        AnnotationError: The file cannot be read or decoded as UTF-8, or a
            CSV file lacks the ``id`` or ``label`` column.
    """
    try:
        data, version = _read_stable(path)
    except FileNotFoundError:
        text, version = "", None
    except OSError as error:
        raise AnnotationError(
            f"The labelling file {str(path)!r} cannot be read: {error}."
        ) from error
    else:
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            raise AnnotationError(
                f"The labelling file {str(path)!r} is not UTF-8 text ({error}). "
                "Save it from the spreadsheet as CSV UTF-8."
            ) from error
    if file_format == "csv":
        return CsvTable.parse(text, path), version
    return JsonlTable.parse(text), version


def _read_stable(path: Path) -> tuple[bytes, tuple[int, int]]:
    """Read the file once it has stopped changing, waiting at most about 1 s.

    Tools that save in place (truncate, then write) leave an empty or half
    file for a moment. A read is retried while the file changed during it,
    or changed less than :data:`_SETTLE_SECONDS` before it.
    """
    for _ in range(_READ_ATTEMPTS):
        with open(path, "rb") as file:
            before = os.fstat(file.fileno())
            data = file.read()
            after = os.fstat(file.fileno())
        version = (after.st_mtime_ns, after.st_size)
        unchanged = (before.st_mtime_ns, before.st_size) == version and len(data) == after.st_size
        age = (time.time_ns() - after.st_mtime_ns) / 1e9
        if unchanged and age >= _SETTLE_SECONDS:
            return data, version
        time.sleep(max(_SETTLE_SECONDS - age, 0.01) if unchanged else 0.05)
    # NOTE: a file that keeps changing is read as it was at the last attempt.
    return data, version


def file_version(path: Path) -> tuple[int, int] | None:
    """Return the file's ``(st_mtime_ns, st_size)``, or ``None`` when it is missing."""
    try:
        stamp = os.stat(path)
    except FileNotFoundError:
        return None
    return (stamp.st_mtime_ns, stamp.st_size)


def write_atomically(path: Path, text: str) -> None:
    """Replace ``path`` with ``text``: written to a file beside it, flushed to disk, then renamed.

    A reader, or a process killed at any point, finds the old file or the
    new one, never part of one. The file keeps its permissions, and a new
    one gets the default permissions of the user's umask.

    Raises:
        AnnotationError: The folder cannot be written.
    """
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
        try:
            with os.fdopen(descriptor, "w", encoding="utf-8", newline="") as file:
                file.write(text)
                file.flush()
                os.fsync(file.fileno())
            if path.exists():
                os.chmod(temporary, os.stat(path).st_mode & 0o7777)
            os.replace(temporary, path)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
    except OSError as error:
        raise AnnotationError(
            f"The labelling file {str(path)!r} cannot be written: {error}."
        ) from error
    _sync_folder(path.parent)


def _sync_folder(folder: Path) -> None:
    # The rename is durable only once the folder's entry is on disk. Some
    # platforms (Windows) cannot open a folder, and there the rename is left
    # to the file system.
    try:
        descriptor = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)
