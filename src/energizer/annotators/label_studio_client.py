"""A thin client of Label Studio's REST API, built on the standard library's ``urllib``.

NOTE: energizer does not use the official SDK. label-studio-sdk 2.1 (the
one that label-studio 1.23 installs) requires opencv-python-headless 4.12,
which pins numpy below 2.3, so installing it beside energizer downgrades
numpy 2.4 to 2.2; it also brings NLTK and about 40 other packages. The
annotator needs six endpoints, written out here:

- ``GET /api/projects/?title=...`` and ``GET /api/projects/<id>/``: find a project.
- ``POST /api/projects/``: create one.
- ``GET /api/tasks/?project=<id>&fields=all``: list its tasks, with their
  annotations, page by page.
- ``POST /api/projects/<id>/import``: import tasks with predictions.
- ``POST /api/token/refresh/``: trade a personal access token for an access token.

Checked against Label Studio 1.23.2.
"""

from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any

import numpy as np

from energizer.errors import AnnotationError

__all__ = ["LabelStudioClient", "LabelStudioUnavailableError", "display_url", "json_default"]

log = logging.getLogger(__name__)

# Statuses that mean "try again later": the server or a proxy in front of it
# is starting, stopping or overloaded. Label Studio on SQLite also returns
# 500 while another writer has the database locked.
_RETRY_STATUSES = {429, 500, 502, 503, 504}

# Tasks per page when listing a project's tasks.
_PAGE_SIZE = 500


class LabelStudioUnavailableError(AnnotationError):
    """Label Studio did not respond, or only responded that it is unavailable, by the deadline."""


class _Secret:
    """A string that ``repr`` and ``str`` do not show, so that no log or traceback prints it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<hidden>"

    __str__ = __repr__


class _Unreachable(Exception):
    """One call that got no usable response. Its message contains no secret."""


def display_url(url: str) -> str:
    """Return ``url`` without the user name and password that it may carry."""
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    netloc = parts.hostname or ""
    if parts.port is not None:
        netloc = f"{netloc}:{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc))


class LabelStudioClient:
    """Calls of Label Studio's REST API, with retries while the server is unreachable.

    The token is sent in the ``Authorization`` header and kept out of every
    ``repr``, log line and exception message. A legacy token is sent as
    ``Token <token>``. A personal access token (a JWT, which Label Studio
    1.23 issues by default) is traded for a short-lived access token that
    is sent as ``Bearer <access>`` and renewed when it expires.

    Args:
        url: Address of the server, such as ``"http://127.0.0.1:8080"``.
        token: The API token.
        request_timeout: Seconds to wait for one response.
        retry_delay: Seconds before the first retry; each later retry waits
            twice as long as the one before.
        max_retry_delay: Maximum seconds between two retries.
    """

    def __init__(
        self,
        url: str,
        token: str,
        *,
        request_timeout: float,
        retry_delay: float,
        max_retry_delay: float,
    ) -> None:
        self.url = url.rstrip("/")
        self.shown_url = display_url(self.url)
        self.request_timeout = request_timeout
        self.retry_delay = retry_delay
        self.max_retry_delay = max_retry_delay
        self._token = _Secret(token)
        self._access: _Secret | None = None
        self._opener = urllib.request.build_opener()

    def __repr__(self) -> str:
        return f"LabelStudioClient(url={self.shown_url!r})"

    def find_projects(self, title: str, deadline: float | None) -> list[dict[str, Any]]:
        """Return the projects whose title is exactly ``title``, lowest id first."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {"title": title, "page": page, "page_size": 100}
            answer = self.call("GET", "/api/projects/", params=params, deadline=deadline)
            found.extend(project for project in answer["results"] if project.get("title") == title)
            if not answer.get("next"):
                break
            page += 1
        return sorted(found, key=lambda project: project["id"])

    def get_project(self, project_id: int, deadline: float | None) -> dict[str, Any]:
        return self.call("GET", f"/api/projects/{project_id}/", deadline=deadline)

    def create_project(self, settings: Mapping[str, Any], deadline: float | None) -> dict[str, Any]:
        return self.call("POST", "/api/projects/", body=settings, deadline=deadline)

    def list_tasks(self, project_id: int, deadline: float | None) -> list[dict[str, Any]]:
        """Return every task of the project, with its data and annotations."""
        tasks: list[dict[str, Any]] = []
        page = 1
        while True:
            params = {
                "project": project_id,
                "fields": "all",
                "resolve_uri": "false",
                "page": page,
                "page_size": _PAGE_SIZE,
            }
            answer = self.call("GET", "/api/tasks/", params=params, deadline=deadline)
            batch = answer.get("tasks", []) if isinstance(answer, Mapping) else answer
            tasks.extend(batch)
            total = answer.get("total", 0) if isinstance(answer, Mapping) else len(batch)
            if len(batch) < _PAGE_SIZE or len(tasks) >= total:
                return tasks
            page += 1

    def import_tasks(
        self, project_id: int, tasks: list[dict[str, Any]], deadline: float | None
    ) -> None:
        """Import tasks, with their predictions, in one call that is never retried.

        A retry could import the tasks twice when the first call arrived but
        its response was lost. The caller lists the tasks again instead.

        NOTE: the Community edition imports before it responds (checked on
        1.23.2). Other editions import in the background, so a listing right
        after this call may miss the new tasks; that case was never run.

        Raises:
            LabelStudioUnavailableError: No response. Some or all tasks may have arrived.
        """
        self.call(
            "POST", f"/api/projects/{project_id}/import", body=tasks, deadline=deadline, retry=False
        )

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
        deadline: float | None = None,
        retry: bool = True,
    ) -> Any:
        """Send one request and return its decoded JSON response, ``None`` for an empty one.

        Args:
            method: ``"GET"`` or ``"POST"``.
            path: The endpoint, such as ``"/api/projects/"``.
            params: Query parameters.
            body: Sent as JSON; numpy values become Python numbers and lists.
            deadline: ``time.monotonic()`` value after which an unreachable
                server gets no more retries. ``None`` retries until it responds.
            retry: ``False`` gives up after the first failure.

        Raises:
            LabelStudioUnavailableError: The server did not respond before the deadline.
            AnnotationError: The server rejected the call (a 4xx status, such
                as an invalid token or a missing project) or responded with other than JSON.
        """
        url = self.url + path
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body, default=json_default).encode("utf-8")
        failures = 0
        delay = self.retry_delay
        started = time.monotonic()
        while True:
            try:
                answer = self._call_once(method, url, data, deadline)
            except _Unreachable as error:
                failures += 1
                remaining = None if deadline is None else deadline - time.monotonic()
                if not retry or (remaining is not None and remaining <= 0):
                    raise LabelStudioUnavailableError(
                        f"Label Studio at {self.shown_url} did not respond to {method} {path}: "
                        f"{error} ({failures} attempts in {time.monotonic() - started:.1f} s). "
                        "Check that the server is running and that the URL is right."
                    ) from None
                wait = delay if remaining is None else min(delay, remaining)
                log.warning(
                    "Label Studio at %s did not respond to %s %s: %s. "
                    "Retrying in %.1f s (attempt %d).",
                    self.shown_url,
                    method,
                    path,
                    error,
                    wait,
                    failures,
                )
                time.sleep(wait)
                delay = min(2 * delay, self.max_retry_delay)
                continue
            if failures:
                log.info(
                    "Label Studio at %s responds again, after %d failed attempts in %.1f s.",
                    self.shown_url,
                    failures,
                    time.monotonic() - started,
                )
            return answer

    def _call_once(self, method: str, url: str, data: bytes | None, deadline: float | None) -> Any:
        headers = {"Accept": "application/json", "Authorization": self._authorization(deadline)}
        if data is not None:
            headers["Content-Type"] = "application/json"
        try:
            return self._open(method, url, data, headers)
        except _Rejected as error:
            if error.status != 401 or self._access is None:
                raise error.to_annotation_error(self.shown_url, method) from None
        # The access token of a personal access token expired: renew it once.
        self._access = None
        headers["Authorization"] = self._authorization(deadline)
        try:
            return self._open(method, url, data, headers)
        except _Rejected as error:
            raise error.to_annotation_error(self.shown_url, method) from None

    def _authorization(self, deadline: float | None) -> str:
        token = self._token.reveal()
        if not _is_jwt(token):
            return f"Token {token}"
        if self._access is None:
            body = json.dumps({"refresh": token}).encode("utf-8")
            headers = {"Accept": "application/json", "Content-Type": "application/json"}
            try:
                answer = self._open("POST", self.url + "/api/token/refresh/", body, headers)
            except _Rejected as error:
                raise error.to_annotation_error(self.shown_url, "POST") from None
            if not isinstance(answer, Mapping) or not isinstance(answer.get("access"), str):
                raise AnnotationError(
                    f"Label Studio at {self.shown_url} responded to POST /api/token/refresh/ "
                    "without an access token."
                )
            self._access = _Secret(answer["access"])
        return f"Bearer {self._access.reveal()}"

    def _open(self, method: str, url: str, data: bytes | None, headers: dict[str, str]) -> Any:
        request = urllib.request.Request(url, data=data, headers=headers, method=method)
        path = urllib.parse.urlsplit(url).path
        try:
            with self._opener.open(request, timeout=self.request_timeout) as response:
                payload = response.read()
        except urllib.error.HTTPError as error:
            detail = _read_detail(error)
            if error.code in _RETRY_STATUSES:
                raise _Unreachable(f"HTTP {error.code} {detail}".strip()) from None
            raise _Rejected(error.code, path, detail) from None
        except (urllib.error.URLError, OSError, http.client.HTTPException) as error:
            reason = getattr(error, "reason", error)
            raise _Unreachable(f"{type(reason).__name__}: {reason}") from None
        if not payload.strip():
            return None
        try:
            return json.loads(payload)
        except json.JSONDecodeError:
            raise AnnotationError(
                f"{self.shown_url} responded to {method} {path} with something other than JSON "
                f"({payload[:80]!r}). Check that the URL points to Label Studio."
            ) from None


class _Rejected(Exception):
    """A 4xx response: the call itself is wrong, so sending it again cannot help."""

    def __init__(self, status: int, path: str, detail: str) -> None:
        super().__init__(status, path, detail)
        self.status = status
        self.path = path
        self.detail = detail

    def to_annotation_error(self, shown_url: str, method: str) -> AnnotationError:
        message = (
            f"Label Studio at {shown_url} rejected {method} {self.path} with HTTP {self.status}"
        )
        if self.detail:
            message += f": {self.detail}"
        if self.status in (401, 403):
            message += (
                ". Check the token, from token=... or ENERGIZER_LABEL_STUDIO_TOKEN. "
                "Label Studio shows it under Account & Settings. A legacy token works only "
                "where legacy tokens are enabled: in the organization's settings, or with "
                "`label-studio start --enable-legacy-api-token`."
            )
        elif self.status == 404:
            message += ". Check the URL and the project id."
        return AnnotationError(message + ("" if message.endswith(".") else "."))


def _read_detail(error: urllib.error.HTTPError) -> str:
    """Return the reason that a Label Studio error body gives, at most 500 characters."""
    try:
        body = error.read()
    except (OSError, http.client.HTTPException):
        return ""
    finally:
        error.close()
    try:
        decoded = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return body[:500].decode("utf-8", "replace").strip()
    if isinstance(decoded, Mapping):
        parts = [decoded.get("detail"), decoded.get("validation_errors")]
        text = " ".join(str(part) for part in parts if part)
        return (text or str(decoded))[:500]
    return str(decoded)[:500]


def _is_jwt(token: str) -> bool:
    # Personal access tokens are JWTs: three base64url parts joined by dots.
    # Legacy tokens are 40 hexadecimal characters.
    return token.count(".") == 2 and token.startswith("eyJ")


def json_default(value: Any) -> Any:
    """Convert the numpy and torch values that ``json.dumps`` does not know, as its ``default``."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if hasattr(value, "tolist"):  # torch tensors
        return value.tolist()
    raise TypeError(
        f"a value of type {type(value).__name__} cannot be sent to Label Studio as JSON"
    )
