"""Checks of the LabelStudioAnnotator's arguments, made before it contacts the server."""

from __future__ import annotations

from typing import Any

from energizer.annotators.label_studio_config import DATA_KINDS, DataKind
from energizer.errors import InvalidArgumentError

__all__ = [
    "TOKEN_VARIABLE",
    "URL_VARIABLE",
    "check_data_kind",
    "check_items",
    "check_project",
    "check_same_classes",
    "check_token",
    "check_url",
]

URL_VARIABLE = "ENERGIZER_LABEL_STUDIO_URL"
TOKEN_VARIABLE = "ENERGIZER_LABEL_STUDIO_TOKEN"

# Label Studio's limits on a project title (PROJECT_TITLE_MIN_LEN and _MAX_LEN in 1.23).
_TITLE_LENGTHS = (3, 50)


def check_items(items: Any) -> Any:
    """Return ``items`` if it is a sequence or a callable, else raise ``InvalidArgumentError``."""
    if callable(items) or (hasattr(items, "__getitem__") and hasattr(items, "__len__")):
        return items
    raise InvalidArgumentError(
        "items",
        "a sequence indexed by dataset id, or a callable that returns an id's task data",
        f"a {type(items).__name__}",
        "Pass the texts, image URLs or table rows of the dataset, in dataset order.",
    )


def check_data_kind(data_kind: Any) -> DataKind:
    """Return ``data_kind`` if ``DATA_KINDS`` has it, else raise ``InvalidArgumentError``."""
    if data_kind not in DATA_KINDS:
        raise InvalidArgumentError(
            "data_kind",
            f"one of {sorted(DATA_KINDS)}",
            repr(data_kind),
            "Pass what people label: text, images or rows.",
        )
    return data_kind


def check_same_classes(
    class_names: tuple[str, ...] | None, choices: tuple[str, ...], source: str
) -> None:
    """Raise ``InvalidArgumentError`` unless ``class_names`` is ``None`` or names ``choices``."""
    if class_names is not None and set(class_names) != set(choices):
        raise InvalidArgumentError(
            "class_names",
            f"the choices of the {source}'s configuration {list(choices)}",
            list(class_names),
            "Pass the same class names, or use another project title for other classes.",
        )


def check_project(project: Any) -> str | int:
    """Return the project's title without outer spaces, or its id; raise on other values."""
    if isinstance(project, int) and not isinstance(project, bool) and project > 0:
        return project
    low, high = _TITLE_LENGTHS
    if isinstance(project, str) and low <= len(project.strip()) <= high:
        return project.strip()
    raise InvalidArgumentError(
        "project",
        f"a project title of {low} to {high} characters, or a positive project id",
        repr(project),
        "Pass project='my-labels', or the id that Label Studio shows in the project's URL.",
    )


def check_url(url: Any) -> str:
    """Return ``url`` if it is an http or https address, else raise ``InvalidArgumentError``."""
    if url is None:
        raise InvalidArgumentError(
            "url",
            "the address of a Label Studio server, such as 'http://127.0.0.1:8080'",
            None,
            f"Pass url=... or set {URL_VARIABLE}.",
        )
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise InvalidArgumentError(
            "url",
            "an http:// or https:// address",
            repr(url),
            "Pass the address that the browser shows.",
        )
    return url


def check_token(token: Any) -> str:
    """Return ``token`` without outer spaces; raise ``InvalidArgumentError`` when it is missing."""
    if token is None or (isinstance(token, str) and not token.strip()):
        raise InvalidArgumentError(
            "token",
            "a Label Studio API token",
            "no token",
            f"Pass token=... or set {TOKEN_VARIABLE}. Label Studio shows the token under "
            "Account & Settings.",
        )
    if not isinstance(token, str):
        raise InvalidArgumentError(
            "token", "a string", f"a {type(token).__name__}", "Pass the token as a string."
        )
    return token.strip()
