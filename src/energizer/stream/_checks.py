"""Argument checks shared by the stream budget managers, strategies and loop."""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any

import numpy as np

from energizer.errors import InvalidArgumentError
from energizer.seeding import draw_seed


def check_fraction(
    name: str, value: Any, *, include_zero: bool = False, include_one: bool = True
) -> float:
    """Return ``value`` as a float, raising unless it lies in the interval the flags describe.

    The interval is ``(0, 1]`` by default. ``include_zero`` closes its lower
    end and ``include_one=False`` opens its upper end.
    """
    low = "[0" if include_zero else "(0"
    high = "1]" if include_one else "1)"
    is_number = isinstance(value, Real) and not isinstance(value, (bool, np.bool_))
    inside = (
        is_number
        and math.isfinite(value)
        and (value >= 0 if include_zero else value > 0)
        and (value <= 1 if include_one else value < 1)
    )
    if not inside:
        raise InvalidArgumentError(
            name, f"a number in {low}, {high}", repr(value), f"Pass {name} as a fraction, e.g. 0.1."
        )
    return float(value)


def check_nonnegative(name: str, value: Any, *, strictly_positive: bool = False) -> float:
    """Return ``value`` as a float, raising unless it is finite and at least 0 (above 0 if strict)."""
    is_number = isinstance(value, Real) and not isinstance(value, (bool, np.bool_))
    bound_ok = is_number and (value > 0 if strictly_positive else value >= 0)
    if not (is_number and math.isfinite(value) and bound_ok):
        expected = "a finite number above 0" if strictly_positive else "a finite number >= 0"
        raise InvalidArgumentError(
            name, expected, repr(value), f"Pass {name} on the scale of the scores."
        )
    return float(value)


def check_positive_int(name: str, value: Any) -> int:
    """Return ``value`` as an int, raising unless it is an integer >= 1."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral) or value < 1:
        raise InvalidArgumentError(
            name, "an integer >= 1", repr(value), f"Pass {name} as a whole number, at least 1."
        )
    return int(value)


def check_seed(seed: Any) -> int:
    """Return ``seed`` as an int, or a seed drawn from PyTorch's global generator when it is ``None``.

    Drawing from PyTorch's generator lets ``lightning.pytorch.seed_everything``
    fix the stream strategies' draws along with the rest of a run.
    """
    if seed is None:
        return draw_seed()
    if (
        isinstance(seed, (bool, np.bool_))
        or not isinstance(seed, Integral)
        or not 0 <= seed < 2**32
    ):
        raise InvalidArgumentError(
            "seed", "None or an integer between 0 and 2**32 - 1", repr(seed), "Pass e.g. seed=0."
        )
    return int(seed)


def check_state_keys(owner: str, state_dict: Any, keys: tuple[str, ...]) -> None:
    """Raise unless ``state_dict`` is a dict that contains every name in ``keys``."""
    if not isinstance(state_dict, dict) or any(key not in state_dict for key in keys):
        received = sorted(state_dict) if isinstance(state_dict, dict) else type(state_dict).__name__
        raise InvalidArgumentError(
            "state_dict",
            f"a dict with the keys {list(keys)}",
            f"{received}",
            f"Pass the dict that {owner}.state_dict() returned.",
        )
