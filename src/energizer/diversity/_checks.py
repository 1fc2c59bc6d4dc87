"""Input checks shared by the diversity algorithms."""

from __future__ import annotations

from numbers import Integral
from typing import Any

from energizer.errors import InvalidArgumentError


def check_count(value: Any, name: str, maximum: int) -> int:
    """Return ``value`` as an int, raising unless it is an integer in ``[1, maximum]``."""
    is_int = isinstance(value, Integral) and not isinstance(value, bool)
    if not is_int or not 1 <= value <= maximum:
        raise InvalidArgumentError(
            name,
            f"an integer between 1 and the number of points ({maximum})",
            repr(value),
            f"Pass {name} <= {maximum}, or more points.",
        )
    return int(value)


def check_positive(value: Any, name: str) -> int:
    """Return ``value`` as an int, raising unless it is an integer >= 1."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise InvalidArgumentError(name, "an integer >= 1", repr(value), f"Pass e.g. {name}=20.")
    return int(value)


def check_block_bytes(value: Any) -> int:
    """Return ``value`` as an int, raising unless it is an integer of at least 1 MiB."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 2**20:
        raise InvalidArgumentError(
            "max_block_bytes",
            "an integer of at least 1 MiB (1048576)",
            repr(value),
            "Pass e.g. max_block_bytes=8 * 2**20.",
        )
    return int(value)
