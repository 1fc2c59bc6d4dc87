"""Budget managers: how many of the items seen so far a stream may label.

A budget ``B`` in ``(0, 1]`` is the fraction of the stream's items that may
be labelled. Before each item, a stream strategy calls
:meth:`BudgetManager.allows` to learn whether a label may be spent now, and
:func:`~energizer.stream.decide_items` then passes its decision to
:meth:`BudgetManager.record`. Each manager states how far the labelled
fraction can rise above ``B`` (:attr:`BudgetManager.tolerance` and
:meth:`BudgetManager.labelled_fraction_bound`). The bounds follow from the
update rules and the tests check them on long streams.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from typing import Any

from energizer.errors import InvalidArgumentError, InvalidQueryError
from energizer.stream._checks import check_fraction, check_positive_int, check_state_keys

__all__ = ["BudgetManager", "CumulativeBudget", "EstimatedBudget"]


class BudgetManager(ABC):
    """Base class of the budget managers: counts the items seen and labelled and paces the labels.

    Args:
        budget: Fraction of the items that may be labelled, in ``(0, 1]``.

    Raises:
        InvalidArgumentError: ``budget`` is not a number in ``(0, 1]``.
    """

    def __init__(self, budget: float) -> None:
        self._budget = check_fraction("budget", budget)
        self._num_seen = 0
        self._num_labelled = 0

    @property
    def budget(self) -> float:
        """Fraction of the items that may be labelled."""
        return self._budget

    @property
    def num_seen(self) -> int:
        """Items recorded so far, labelled or not."""
        return self._num_seen

    @property
    def num_labelled(self) -> int:
        """Items recorded as labelled so far."""
        return self._num_labelled

    @property
    def labelled_fraction(self) -> float:
        """``num_labelled / num_seen`` over the whole stream so far; 0 before the first item."""
        return self._num_labelled / self._num_seen if self._num_seen else 0.0

    @property
    @abstractmethod
    def tolerance(self) -> float:
        """Most that the labelled fraction of a long stream can exceed :attr:`budget` by."""

    @abstractmethod
    def labelled_fraction_bound(self, num_seen: int) -> float:
        """Return an upper bound of the labelled fraction after the first ``num_seen`` items."""

    @abstractmethod
    def allows(self) -> bool:
        """Return whether the next item may be labelled, without changing any state."""

    def record(self, labelled: bool) -> None:
        """Count one item and whether it was labelled.

        Raises:
            InvalidQueryError: ``labelled`` is true while :meth:`allows` is false,
                because the strategy ignored the budget.
        """
        labelled = bool(labelled)
        if labelled and not self.allows():
            raise InvalidQueryError(
                f"An item was labelled while {type(self).__name__} allowed no label "
                f"({self._num_labelled} of {self._num_seen} items labelled, budget {self._budget}). "
                "A stream strategy must return False whenever budget.allows() is False."
            )
        self._update(labelled)
        self._num_seen += 1
        self._num_labelled += int(labelled)

    @abstractmethod
    def _update(self, labelled: bool) -> None:
        """Update the manager's own estimate with one item, before the counts change."""

    def state_dict(self) -> dict[str, Any]:
        """Return the counts and the manager's settings as a JSON-serialisable dict."""
        return {
            "budget": self._budget,
            "num_seen": self._num_seen,
            "num_labelled": self._num_labelled,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the counts saved by :meth:`state_dict`.

        Raises:
            InvalidArgumentError: ``state_dict`` misses a key or was saved by a
                manager with other settings.
        """
        check_state_keys(type(self).__name__, state_dict, tuple(self.state_dict()))
        self._check_same_setting(state_dict, "budget", self._budget)
        self._num_seen = int(state_dict["num_seen"])
        self._num_labelled = int(state_dict["num_labelled"])

    def _check_same_setting(self, state_dict: dict[str, Any], name: str, value: Any) -> None:
        if state_dict[name] != value:
            raise InvalidArgumentError(
                f'state_dict["{name}"]',
                f"{value!r}, the {name} of this {type(self).__name__}",
                repr(state_dict[name]),
                f"Build the manager with {name}={state_dict[name]!r} before loading this state.",
            )


class EstimatedBudget(BudgetManager):
    """Budget manager that compares an exponentially weighted estimate of recent label spending with the budget.

    This is the estimate of Žliobaitė, Bifet, Pfahringer and Holmes (2014),
    "Active Learning With Drifting Streaming Data", IEEE TNNLS 25(1), as
    scikit-activeml's ``EstimatedBudgetZliobaite`` implements it. After item
    ``t``, with ``l_t = 1`` when it was labelled and ``w`` the window::

        u_t = u_{t-1} * (w - 1) / w + l_t,   u_0 = 0
        estimate_t = u_t / w

    ``u_t`` approximates the labels spent among the last ``w`` items, so the
    estimate tracks the recent labelled fraction, not the whole history. A
    label may be spent on the next item while ``estimate < budget``.

    Guarantees, from the rule above: the estimate never exceeds
    ``budget + 1 / w``, because it is below the budget before each label and
    one label adds ``1 / w``. Summing the recursion bounds the labelled
    fraction of the first ``T`` items by ``budget + 1 / w + (w * budget + 1) / T``.
    The last term is the start-up burst: the estimate starts at 0, so the
    first labels come faster than the budget until the estimate reaches it.

    Args:
        budget: Fraction of the items that may be labelled, in ``(0, 1]``.
        window: The ``w`` above, in items. ``None`` picks
            ``max(100, ceil(10 / budget))``, so that the window spans about 10
            labels or more and the tolerance ``1 / w`` is at most a tenth of
            the budget. It must span at least one label: ``window * budget >= 1``.

    Raises:
        InvalidArgumentError: ``budget`` is not in ``(0, 1]``, ``window`` is
            not a positive integer, or ``window * budget < 1``.
    """

    def __init__(self, budget: float, window: int | None = None) -> None:
        super().__init__(budget)
        if window is None:
            window = max(100, math.ceil(10 / self._budget))
        self._window = check_positive_int("window", window)
        if self._window * self._budget < 1:
            raise InvalidArgumentError(
                "window",
                f"at least 1 / budget = {math.ceil(1 / self._budget)} items, so the window spans one label",
                repr(window),
                f"Raise window to {math.ceil(10 / self._budget)} or more, or pass window=None.",
            )
        self._spent = 0.0

    @property
    def window(self) -> int:
        """Number of items ``w`` that the estimate approximately spans."""
        return self._window

    @property
    def estimate(self) -> float:
        """Estimated fraction of the last ``w`` items that were labelled."""
        return self._spent / self._window

    @property
    def tolerance(self) -> float:
        """``1 / window``: the most the estimate, and the long-run labelled fraction, exceed the budget by."""
        return 1.0 / self._window

    def labelled_fraction_bound(self, num_seen: int) -> float:
        """Return ``budget + 1 / w + (w * budget + 1) / num_seen``, the bound proven in the class docstring."""
        num_seen = check_positive_int("num_seen", num_seen)
        return self._budget + self.tolerance + (self._window * self._budget + 1) / num_seen

    def allows(self) -> bool:
        return self.estimate < self._budget

    def _update(self, labelled: bool) -> None:
        self._spent = self._spent * (self._window - 1) / self._window + float(labelled)

    def state_dict(self) -> dict[str, Any]:
        """Return the counts, the settings and the spending estimate ``u_t`` as a JSON-serialisable dict."""
        return {**super().state_dict(), "window": self._window, "spent": self._spent}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._check_same_setting(state_dict, "window", self._window)
        self._spent = float(state_dict["spent"])

    def __repr__(self) -> str:
        return f"EstimatedBudget(budget={self._budget!r}, window={self._window!r})"


class CumulativeBudget(BudgetManager):
    """Budget manager that caps the labelled fraction of the whole stream so far.

    A label may be spent on the next item when, counting that item,
    ``num_labelled + 1 <= budget * (num_seen + 1)``. The labelled fraction is
    therefore never above the budget, at any point of the stream, so the
    tolerance is 0. Unlike :class:`EstimatedBudget`, labels saved during a
    quiet stretch stay available, so they can all be spent in a burst later.

    Args:
        budget: Fraction of the items that may be labelled, in ``(0, 1]``.

    Raises:
        InvalidArgumentError: ``budget`` is not in ``(0, 1]``.
    """

    @property
    def tolerance(self) -> float:
        """0: the labelled fraction never exceeds the budget."""
        return 0.0

    def labelled_fraction_bound(self, num_seen: int) -> float:
        """Return the budget, which bounds the labelled fraction after any number of items."""
        check_positive_int("num_seen", num_seen)
        return self._budget

    def allows(self) -> bool:
        return self._num_labelled + 1 <= self._budget * (self._num_seen + 1)

    def _update(self, labelled: bool) -> None:
        pass

    def __repr__(self) -> str:
        return f"CumulativeBudget(budget={self._budget!r})"
