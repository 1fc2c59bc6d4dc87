"""Stream strategies: decide item by item whether to ask for a label, under a budget manager.

A strategy decides on one item at a time, in stream order, from the item's
score. The score comes from an :mod:`energizer.acquisition` function such as
``least_confidence``, ``margin`` or ``entropy``, and higher means more
informative. It returns ``True`` to ask for the item's label, and never
while the budget manager allows no label. :func:`decide_items` runs a
strategy over a batch of scores and records every decision with the budget
manager.

The strategies follow Žliobaitė, Bifet, Pfahringer and Holmes (2014),
"Active Learning With Drifting Streaming Data", IEEE TNNLS 25(1), 27-39, as
scikit-activeml's ``skactiveml.stream`` implements them. Those rules
threshold the probability of the top class, where lower is more uncertain.
Here the threshold applies to a score, where higher is more informative, so
that any acquisition function can drive it. Each class states its rule
exactly.
"""

from __future__ import annotations

import sys
from abc import ABC, abstractmethod
from typing import Any, ClassVar

import numpy as np

from energizer.errors import InvalidArgumentError
from energizer.stream._checks import check_fraction, check_nonnegative, check_seed, check_state_keys
from energizer.stream.budget import BudgetManager

__all__ = [
    "FixedUncertainty",
    "RandomStream",
    "Split",
    "StreamStrategy",
    "VariableUncertainty",
    "decide_items",
]

# A variable threshold stops at the smallest positive normal float instead of
# reaching 0, where multiplying by (1 + step) after a query could not raise it.
_MIN_THRESHOLD = sys.float_info.min


class StreamStrategy(ABC):
    """Base class of the stream strategies.

    Subclasses implement :meth:`decide`. Stateful ones also override
    :meth:`state_dict` and :meth:`load_state_dict`, so that a resumed stream
    continues with the same thresholds and random draws.

    Class attributes:
        needs_scores: Whether :meth:`decide` reads the item's score. When it
            is false, the stream loop does not run the model to score items.
    """

    needs_scores: ClassVar[bool] = True

    @abstractmethod
    def decide(self, score: float | None, budget: BudgetManager) -> bool:
        """Return whether to ask for the label of the next item, and update the strategy's state.

        Call it through :func:`decide_items`, which records each decision with
        ``budget`` right after, so that the strategy and the manager stay in step.

        Args:
            score: The item's score, higher is more informative. ``None`` when
                :attr:`needs_scores` is false.
            budget: The manager that paces the labels. The strategy reads
                :meth:`BudgetManager.allows` and must return ``False`` when it is false.
        """

    def state_dict(self) -> dict[str, Any]:
        """Return the strategy's state as a JSON-serialisable dict; empty for stateless strategies."""
        return {}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state returned by :meth:`state_dict`.

        Raises:
            InvalidArgumentError: ``state_dict`` is not a dict or misses a key.
        """
        check_state_keys(type(self).__name__, state_dict, tuple(self.state_dict()))


def decide_items(
    strategy: StreamStrategy,
    budget: BudgetManager,
    scores: np.ndarray | None = None,
    *,
    num_items: int | None = None,
) -> np.ndarray:
    """Decide on each item of a batch, in order, and record every decision with ``budget``.

    Args:
        strategy: The stream strategy.
        budget: The budget manager; its counts advance by one item per decision.
        scores: One finite score per item, in stream order, shape ``(N,)``.
            Required when ``strategy.needs_scores`` is true, ignored otherwise.
        num_items: Number of items when ``scores`` is ``None``.

    Returns:
        Boolean array of shape ``(N,)``: ``True`` where the label is requested.

    Raises:
        InvalidArgumentError: ``scores`` is missing, not 1-D, or not finite,
            where the strategy needs them, or neither ``scores`` nor
            ``num_items`` gives the number of items.
        InvalidQueryError: The strategy asked for a label that ``budget`` did not allow.
    """
    if strategy.needs_scores or scores is not None:
        values = _check_scores(scores, strategy)
        num_items = values.size
    elif num_items is None:
        raise InvalidArgumentError(
            "num_items",
            "the number of items when no scores are passed",
            None,
            "Pass num_items=len(batch).",
        )
    decisions = np.zeros(num_items, dtype=bool)
    for position in range(num_items):
        score = float(values[position]) if strategy.needs_scores else None
        query = bool(strategy.decide(score, budget))
        budget.record(query)
        decisions[position] = query
    return decisions


def _check_scores(scores: Any, strategy: StreamStrategy) -> np.ndarray:
    name = type(strategy).__name__
    if scores is None:
        raise InvalidArgumentError(
            "scores",
            f"one score per item, since {name} decides from scores",
            None,
            "Pass the items' scores.",
        )
    values = np.asarray(scores, dtype=np.float64)
    if values.ndim != 1:
        raise InvalidArgumentError(
            "scores",
            "a 1-D array with one score per item",
            f"shape {values.shape}",
            "Flatten the scores.",
        )
    if not np.isfinite(values).all():
        first = int(np.flatnonzero(~np.isfinite(values))[0])
        raise InvalidArgumentError(
            "scores",
            "finite scores",
            f"{values[first]} at position {first}",
            "Check the model for overflow or invalid operations before scoring.",
        )
    return values


class FixedUncertainty(StreamStrategy):
    """Ask for the label of every item whose score exceeds a fixed threshold, while the budget allows.

    Rule: query item ``t`` if and only if ``budget.allows()`` and
    ``score_t > threshold``. Žliobaitė et al. (2014) query when the top-class
    probability ``p`` is below ``θ``. With ``least_confidence`` scores
    (``1 - p``) and ``threshold = 1 - θ`` the two rules are the same.

    Args:
        threshold: A finite number >= 0, on the scale of the scores: at most
            ``1 - 1/C`` for least confidence, 1 for margin, ``ln C`` nats for
            entropy, with ``C`` classes.

    Raises:
        InvalidArgumentError: ``threshold`` is negative, infinite or not a number.
    """

    def __init__(self, threshold: float) -> None:
        self._threshold = check_nonnegative("threshold", threshold)

    @property
    def threshold(self) -> float:
        """The fixed score threshold."""
        return self._threshold

    def decide(self, score: float | None, budget: BudgetManager) -> bool:
        return budget.allows() and score > self._threshold

    def __repr__(self) -> str:
        return f"FixedUncertainty(threshold={self._threshold!r})"


class VariableUncertainty(StreamStrategy):
    """Ask for labels above a threshold that rises after each query and falls after each item let pass.

    Rule, for item ``t`` with threshold ``θ``:

    - ``budget.allows()`` is false: no query, and ``θ`` stays.
    - ``score_t > θ``: query, then ``θ <- θ * (1 + step)``.
    - otherwise: no query, then ``θ <- θ * (1 - step)``, but not below the
      smallest positive float.

    So the threshold falls while no label is spent and rises after each
    label, and labels go to the items that are uncertain for the current
    model. It settles where about half of the items met while the budget
    allows are queried, so the budget manager, not the threshold, sets the
    pace.

    NOTE: Žliobaitė et al. (2014) apply this rule to the top-class
    probability ``p``: query when ``p < θ``, ``θ <- θ(1 - s)`` after a query,
    ``θ <- θ(1 + s)`` otherwise, from ``θ = 1``. Scores here grow with
    informativeness, so the factors are swapped and the start is a
    parameter: a threshold of 0 could never move. With ``least_confidence``
    scores (``1 - p``), a threshold ``τ`` here queries the same items as
    ``θ = 1 - τ`` there, but the paper's rule moves ``τ`` by ``s * (1 - τ)``
    per item and this one by ``s * τ``.

    Args:
        initial_threshold: ``θ`` before the first item, a finite number above
            0 on the scale of the scores. The default 1 starts above every
            least-confidence and margin score, so the first items lower it.
        step: Relative change ``s`` of the threshold per item, in ``(0, 1)``.

    Raises:
        InvalidArgumentError: ``initial_threshold`` is not above 0 and finite,
            or ``step`` is not in ``(0, 1)``.
    """

    def __init__(self, initial_threshold: float = 1.0, step: float = 0.01) -> None:
        self._initial_threshold = check_nonnegative(
            "initial_threshold", initial_threshold, strictly_positive=True
        )
        self._step = check_fraction("step", step, include_one=False)
        self._threshold = self._initial_threshold

    @property
    def threshold(self) -> float:
        """The current threshold ``θ``."""
        return self._threshold

    @property
    def step(self) -> float:
        """The relative step ``s``."""
        return self._step

    def decide(self, score: float | None, budget: BudgetManager) -> bool:
        if not budget.allows():
            return False
        return self._decide_by_threshold(score)

    def _decide_by_threshold(self, score: float | None) -> bool:
        query = score > self._threshold
        if query:
            self._threshold *= 1 + self._step
        else:
            self._threshold = max(self._threshold * (1 - self._step), _MIN_THRESHOLD)
        return query

    def state_dict(self) -> dict[str, Any]:
        return {"threshold": self._threshold}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        self._threshold = check_nonnegative(
            'state_dict["threshold"]', state_dict["threshold"], strictly_positive=True
        )

    def __repr__(self) -> str:
        return f"VariableUncertainty(initial_threshold={self._initial_threshold!r}, step={self._step!r})"


class Split(VariableUncertainty):
    """Spend a share of the labels on items chosen at random, and the rest by variable uncertainty.

    Every label has a kind, drawn before it is spent: random with probability
    ``random_share``, uncertainty otherwise, independently of everything else.
    While the budget allows a label:

    - a pending random label is spent on the current item, whatever its
      score, and the next kind is drawn;
    - a pending uncertainty label follows :class:`VariableUncertainty`'s
      rule, and the next kind is drawn once it is spent.

    While the budget allows no label, nothing changes. The number of random
    labels among ``n`` spent is therefore Binomial(``n``, ``random_share``).
    A random label goes to the item at which the budget frees up. That point
    depends on past decisions but not on the item itself. So, in a stream
    whose order does not depend on the model, the item is an unbiased draw. Such
    labels reach the parts of the input space that the model is confident
    about, where uncertainty sampling never looks. Žliobaitė et al. (2014)
    split the stream this way so that changes there are seen.

    NOTE: Žliobaitė et al. (2014), in scikit-activeml's ``SplitBudgetManager``,
    draw the split per item: while the budget allows, an item goes to the
    random side with probability ``v`` and is then labelled with probability
    ``B``. There the share of random labels depends on the budget and on how
    often the variable threshold fires. This class draws the kind per label,
    so that the share is ``random_share`` whatever the budget and the scores.

    Args:
        random_share: Expected fraction of the labels spent at random, in
            ``(0, 1)``. 0 would be :class:`VariableUncertainty`, and for 1 use
            :class:`RandomStream`.
        initial_threshold: Starting threshold of the uncertainty labels, as in
            :class:`VariableUncertainty`.
        step: Relative threshold step, as in :class:`VariableUncertainty`.
        seed: Seed of the draws of the label kinds. ``None`` draws a seed
            from PyTorch's global generator.

    Raises:
        InvalidArgumentError: An argument is out of its range.
    """

    def __init__(
        self,
        random_share: float = 0.2,
        initial_threshold: float = 1.0,
        step: float = 0.01,
        seed: int | None = None,
    ) -> None:
        super().__init__(initial_threshold=initial_threshold, step=step)
        self._random_share = check_fraction("random_share", random_share, include_one=False)
        self._seed = check_seed(seed)
        self._generator = np.random.default_rng(self._seed)
        self._pending_random: bool | None = None
        self._num_random_labels = 0
        self._num_uncertainty_labels = 0

    @property
    def random_share(self) -> float:
        """Expected fraction of the labels spent at random."""
        return self._random_share

    @property
    def seed(self) -> int:
        """Seed of the label-kind draws."""
        return self._seed

    @property
    def num_random_labels(self) -> int:
        """Labels spent at random so far."""
        return self._num_random_labels

    @property
    def num_uncertainty_labels(self) -> int:
        """Labels spent by the variable threshold so far."""
        return self._num_uncertainty_labels

    def decide(self, score: float | None, budget: BudgetManager) -> bool:
        if not budget.allows():
            return False
        if self._pending_random is None:
            self._pending_random = bool(self._generator.random() < self._random_share)
        if self._pending_random:
            self._num_random_labels += 1
            self._pending_random = None
            return True
        query = self._decide_by_threshold(score)
        if query:
            self._num_uncertainty_labels += 1
            self._pending_random = None
        return query

    def state_dict(self) -> dict[str, Any]:
        return {
            **super().state_dict(),
            "pending_random": self._pending_random,
            "num_random_labels": self._num_random_labels,
            "num_uncertainty_labels": self._num_uncertainty_labels,
            "generator": self._generator.bit_generator.state,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        pending = state_dict["pending_random"]
        self._pending_random = None if pending is None else bool(pending)
        self._num_random_labels = int(state_dict["num_random_labels"])
        self._num_uncertainty_labels = int(state_dict["num_uncertainty_labels"])
        _load_generator_state(self._generator, state_dict["generator"], type(self).__name__)

    def __repr__(self) -> str:
        return (
            f"Split(random_share={self._random_share!r}, initial_threshold={self._initial_threshold!r}, "
            f"step={self._step!r}, seed={self._seed!r})"
        )


class RandomStream(StreamStrategy):
    """Ask for the label of each item with a fixed probability, while the budget allows; scores are not used.

    Rule: draw ``r_t`` uniform in ``[0, 1)`` for every item, whether or not
    the budget allows a label, so that item ``t`` gets the same draw under any
    budget. Query if and only if ``budget.allows()`` and ``r_t < probability``.
    With ``probability`` equal to the budget this is the random strategy of
    Žliobaitė et al. (2014). A windowed manager such as
    :class:`~energizer.stream.EstimatedBudget` allows no label whenever its
    estimate fluctuates above the budget, so this rule then spends less than
    the budget. A larger ``probability`` spends more of it, and 1 takes every
    item the manager allows.

    Args:
        probability: Query probability per item, in ``(0, 1]``. ``None`` uses
            the budget manager's budget.
        seed: Seed of the draws. ``None`` draws a seed from PyTorch's global generator.

    Raises:
        InvalidArgumentError: ``probability`` is not in ``(0, 1]`` or ``seed`` is invalid.
    """

    needs_scores: ClassVar[bool] = False

    def __init__(self, probability: float | None = None, seed: int | None = None) -> None:
        self._probability = (
            None if probability is None else check_fraction("probability", probability)
        )
        self._seed = check_seed(seed)
        self._generator = np.random.default_rng(self._seed)

    @property
    def probability(self) -> float | None:
        """Query probability per item; ``None`` means the budget manager's budget."""
        return self._probability

    @property
    def seed(self) -> int:
        """Seed of the draws."""
        return self._seed

    def decide(self, score: float | None, budget: BudgetManager) -> bool:
        draw = self._generator.random()
        probability = budget.budget if self._probability is None else self._probability
        return budget.allows() and draw < probability

    def state_dict(self) -> dict[str, Any]:
        return {"generator": self._generator.bit_generator.state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        _load_generator_state(self._generator, state_dict["generator"], type(self).__name__)

    def __repr__(self) -> str:
        return f"RandomStream(probability={self._probability!r}, seed={self._seed!r})"


def _load_generator_state(generator: np.random.Generator, state: Any, owner: str) -> None:
    try:
        generator.bit_generator.state = state
    except (TypeError, ValueError, KeyError) as error:
        raise InvalidArgumentError(
            'state_dict["generator"]',
            f"the {type(generator.bit_generator).__name__} state saved by {owner}.state_dict()",
            f"a {type(state).__name__} that failed to load ({error})",
            f"Pass the dict that {owner}.state_dict() returned.",
        ) from error
