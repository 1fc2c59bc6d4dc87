"""Class names: what people see and type in place of class indices."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from energizer.errors import InvalidArgumentError

__all__ = ["check_class_names"]


def check_class_names(class_names: Sequence[str] | None) -> tuple[str, ...] | None:
    """Return ``class_names`` as a tuple; class ``i`` is ``class_names[i]``.

    Raises:
        InvalidArgumentError: The names are not distinct, non-empty strings
            without leading or trailing spaces.
    """
    if class_names is None:
        return None
    if isinstance(class_names, str) or not isinstance(class_names, Sequence) or not class_names:
        raise InvalidArgumentError(
            "class_names",
            "a non-empty sequence of strings, one per class index",
            repr(class_names),
            "Pass the names in class order, such as ['cat', 'dog'].",
        )
    bad = [name for name in class_names if not _is_clean_name(name)]
    if bad:
        raise InvalidArgumentError(
            "class_names",
            "non-empty strings without leading or trailing spaces",
            repr(bad[:10]),
            "People type these names: pass plain strings such as 'cat'.",
        )
    repeated = sorted({name for name in class_names if list(class_names).count(name) > 1})
    if repeated:
        raise InvalidArgumentError(
            "class_names",
            "distinct names",
            f"repeated names {repeated[:10]}",
            "Give every class its own name.",
        )
    return tuple(class_names)


def _is_clean_name(name: Any) -> bool:
    return isinstance(name, str) and bool(name) and name == name.strip()
