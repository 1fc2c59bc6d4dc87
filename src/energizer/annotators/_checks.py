"""Checks of the arguments that several annotators share."""

from __future__ import annotations

import math
from typing import Any

from energizer.errors import InvalidArgumentError

__all__ = ["check_positive_seconds", "check_seconds"]


def check_seconds(name: str, value: Any) -> float:
    """Return ``value`` as a float of seconds >= 0.

    Raises:
        InvalidArgumentError: ``value`` is not a finite number >= 0.
    """
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidArgumentError(
            name, "a finite number of seconds >= 0", value, f"Pass {name} in seconds."
        )
    return float(value)


def check_positive_seconds(name: str, value: Any) -> float:
    """Return ``value`` as a float of seconds > 0.

    Raises:
        InvalidArgumentError: ``value`` is not a finite number > 0.
    """
    seconds = check_seconds(name, value)
    if seconds == 0:
        raise InvalidArgumentError(
            name, "a number of seconds > 0", value, f"Pass {name} in seconds, above 0."
        )
    return seconds
