"""People's actions in the tests: filling in labelling files and annotating Label Studio tasks.

These helpers use the standard library only, not the code under test, so
a bug in the annotators cannot hide in them.
"""

from __future__ import annotations

import csv
import io
import json
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any


def read_csv_rows(path: Path, delimiter: str = ",") -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8-sig") as file:
        return list(csv.DictReader(file, delimiter=delimiter))


def fill_csv_labels(path: Path, labels: dict[int, str], delimiter: str = ",") -> None:
    """Write ``labels`` (dataset id to label text) into the ``label`` column, like a spreadsheet."""
    with open(path, newline="", encoding="utf-8-sig") as file:
        rows = list(csv.reader(file, delimiter=delimiter))
    header = rows[0]
    id_column, label_column = header.index("id"), header.index("label")
    for row in rows[1:]:
        if row and int(row[id_column]) in labels:
            row[label_column] = labels[int(row[id_column])]
    buffer = io.StringIO()
    csv.writer(buffer, delimiter=delimiter).writerows(rows)
    path.write_text(buffer.getvalue(), encoding="utf-8")


def read_jsonl_rows(path: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()
    ]


def fill_jsonl_labels(path: Path, labels: dict[int, Any]) -> None:
    rows = read_jsonl_rows(path)
    for row in rows:
        if row["id"] in labels:
            row["label"] = labels[row["id"]]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")


class LabelStudioPerson:
    """A person working in Label Studio, through its REST API as the web page calls it."""

    def __init__(self, url: str, token: str) -> None:
        self.url = url
        self._token = token
        self._opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def call(
        self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None
    ) -> Any:
        url = self.url + path + ("?" + urllib.parse.urlencode(params) if params else "")
        data = None if body is None else json.dumps(body).encode()
        headers = {"Authorization": f"Token {self._token}", "Content-Type": "application/json"}
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        with self._opener.open(request, timeout=30) as response:
            payload = response.read()
        return json.loads(payload) if payload.strip() else None

    def project(self, title: str) -> dict[str, Any]:
        found = [
            p
            for p in self.call("GET", "/api/projects/", params={"title": title})["results"]
            if p["title"] == title
        ]
        assert len(found) == 1, f"{len(found)} projects titled {title!r}"
        return found[0]

    def tasks(self, project_id: int) -> list[dict[str, Any]]:
        params = {"project": project_id, "fields": "all", "page_size": 1000, "resolve_uri": "false"}
        return self.call("GET", "/api/tasks/", params=params)["tasks"]

    def task_ids_by_dataset_id(self, project_id: int) -> dict[int, list[int]]:
        """Return, per ``energizer_id``, the ids of the tasks that carry it."""
        found: dict[int, list[int]] = {}
        for task in self.tasks(project_id):
            if "energizer_id" in task["data"]:
                found.setdefault(task["data"]["energizer_id"], []).append(task["id"])
        return found

    def annotate(
        self, task_id: int, choice: str, from_name: str = "label", to_name: str = "text"
    ) -> None:
        result = [
            {
                "from_name": from_name,
                "to_name": to_name,
                "type": "choices",
                "value": {"choices": [choice]},
            }
        ]
        self.call(
            "POST", f"/api/tasks/{task_id}/annotations/", {"result": result, "was_cancelled": False}
        )

    def skip(self, task_id: int) -> None:
        self.call(
            "POST", f"/api/tasks/{task_id}/annotations/", {"result": [], "was_cancelled": True}
        )

    def create_project(self, title: str, label_config: str) -> dict[str, Any]:
        return self.call("POST", "/api/projects/", {"title": title, "label_config": label_config})

    def delete_task(self, task_id: int) -> None:
        self.call("DELETE", f"/api/tasks/{task_id}/")

    def import_tasks(self, project_id: int, tasks: list[dict[str, Any]]) -> None:
        self.call("POST", f"/api/projects/{project_id}/import", tasks)

    def create_personal_access_token(self) -> str:
        return self.call("POST", "/api/token/")["token"]
