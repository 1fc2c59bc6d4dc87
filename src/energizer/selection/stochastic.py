"""Stochastic batch acquisition: sampling the query from a distribution over the pool.

Kirsch, Farquhar, Atighehchian, Jesson, Branchaud-Charron and Gal (2023),
"Stochastic Batch Acquisition: A Simple Baseline for Deep Active Learning"
(TMLR), replace top-k by sampling ``k`` items without replacement with
probabilities derived from the scores. Top-k ignores that the scores change
once items are labelled, and can fill a query with similar items. Sampling
spreads the query over more of the pool, for about the cost of a top-k.
The paper writes each distribution with a coldness ``β``, which is
``1 / temperature`` here:

- softmax: ``p_i ∝ exp(β s_i)``;
- power: ``p_i ∝ s_i ** β``, for nonnegative scores;
- soft-rank: ``p_i ∝ r_i ** (-β)``, where ``r_i`` is the rank of item ``i``.

Sampling uses the Gumbel-top-k trick (Kool, van Hoof and Welling, 2019,
"Stochastic Beams and Where to Find Them", ICML): add independent
``Gumbel(0, 1)`` noise to each ``log p_i`` and take the ``k`` largest sums. The
result has the distribution of ``k`` successive draws without replacement, in
the order drawn. Only log-probabilities are computed, in float64, so large
scores and small temperatures cannot overflow an exponential.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from numbers import Integral, Real
from typing import Any

import numpy as np

from energizer.errors import InvalidArgumentError
from energizer.seeding import draw_seed
from energizer.selection.base import ScoreOrder, Selection

__all__ = ["PowerSampling", "SoftmaxSampling", "SoftRankSampling", "StochasticSelection"]


class StochasticSelection(Selection):
    """Base class of the selection steps that sample ids with the Gumbel-top-k trick.

    Subclasses define the log-probabilities at temperature 1 in
    :meth:`_log_weights`. This class divides them by the temperature, draws the
    noise and ranks the items.

    Each instance owns one ``numpy.random.Generator`` seeded from ``seed``. The
    generator advances with every call to :meth:`select`, so successive rounds
    draw different noise, and two instances with the same seed make the same
    sequence of selections from the same inputs. With ``seed=None`` the seed is
    drawn from PyTorch's global generator (see :mod:`energizer.seeding`), so a
    global ``seed_everything`` fixes it. :meth:`state_dict` stores the
    generator state, so a resumed run continues the same stream.

    Items with probability zero are never chosen while an item with a positive
    probability remains. When ``k`` exceeds the number of items with a positive
    probability, the remaining picks are drawn uniformly at random from the
    zero-probability items with the best score, then the next best, and so on.
    A probability is zero when power sampling gets a zero score, or when the
    temperature is so small that ``log p_i`` divided by it reaches ``-inf`` in
    float64. In the second case the items follow in score order, which is the
    limit of the distribution. So as the temperature approaches zero,
    ``select`` approaches top-k, except that items of equal probability stay in
    random order. Soft-rank sampling gives no two items equal probability.

    Args:
        temperature: ``1 / β`` in the formulas of Kirsch et al., a finite
            number greater than 0. Lower values concentrate the samples on the
            best-scored items.
        seed: Seed of the random generator, a nonnegative int, or ``None`` to
            draw one from PyTorch's global generator.

    Raises:
        InvalidArgumentError: ``temperature`` or ``seed`` is invalid.
    """

    def __init__(self, temperature: float = 1.0, seed: int | None = None) -> None:
        self._temperature = _check_temperature(temperature)
        checked = _check_seed(seed)
        self._seed = draw_seed() if checked is None else checked
        self._generator = np.random.default_rng(self._seed)

    @property
    def temperature(self) -> float:
        """The temperature ``1 / β`` that divides the log-probabilities."""
        return self._temperature

    @property
    def seed(self) -> int | None:
        """The seed the random generator started from."""
        return self._seed

    @abstractmethod
    def _log_weights(self, scores: np.ndarray, order: ScoreOrder) -> np.ndarray:
        """Return ``log p_i`` at temperature 1, up to an additive constant.

        The result is float64 of shape ``(N,)``, with ``-inf`` for the items
        of probability zero. ``scores`` are aligned with the ids sorted
        ascending.
        """

    def _select(self, ids: np.ndarray, scores: np.ndarray, k: int, order: ScoreOrder) -> np.ndarray:
        log_weights = self._log_weights(scores, order)
        log_probabilities = self._apply_temperature(log_weights)
        gumbel = self._generator.gumbel(size=ids.size)
        # Zero-probability items keep a key of -inf whatever noise they get.
        keys = np.where(np.isneginf(log_probabilities), -np.inf, log_probabilities + gumbel)
        # np.lexsort sorts ascending by its last key first. Items of equal key,
        # which are the zero-probability ones, go in score order, and equal
        # scores among those in the random order of their noise.
        ranking = np.lexsort((-gumbel, -log_weights, -keys))
        return ids[ranking[:k]]

    def _apply_temperature(self, log_weights: np.ndarray) -> np.ndarray:
        """Divide ``log_weights`` by the temperature, after shifting their maximum to 0."""
        finite = np.isfinite(log_weights)
        if not finite.any():
            return log_weights
        # The shift keeps every value at or below 0, so dividing by a small
        # temperature can send values to -inf but never to +inf.
        with np.errstate(over="ignore"):
            return (log_weights - log_weights[finite].max()) / self._temperature

    def state_dict(self) -> dict[str, Any]:
        """Return the state of the random generator, as JSON-serialisable values."""
        return {"bit_generator": self._generator.bit_generator.state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the random generator state returned by :meth:`state_dict`.

        Raises:
            InvalidArgumentError: ``state_dict`` is not a dict, has no
                ``"bit_generator"`` entry, or that entry is not a complete
                state of the generator's kind of bit generator.
        """
        super().load_state_dict(state_dict)
        fix = f"Pass the value saved from {type(self).__name__}.state_dict()."
        if "bit_generator" not in state_dict:
            raise InvalidArgumentError(
                "state_dict",
                'a dict with a "bit_generator" entry',
                f"a dict with keys {list(state_dict)}",
                fix,
            )
        state = state_dict["bit_generator"]
        bit_generator = self._generator.bit_generator
        expected_name = type(bit_generator).__name__
        received_name = state.get("bit_generator") if isinstance(state, dict) else None
        if received_name != expected_name:
            raise InvalidArgumentError(
                'state_dict["bit_generator"]',
                f"the state of a {expected_name} bit generator",
                state,
                fix,
            )
        try:
            bit_generator.state = state
        except (KeyError, TypeError, ValueError) as error:
            raise InvalidArgumentError(
                'state_dict["bit_generator"]',
                f"a complete {expected_name} state",
                state,
                fix,
            ) from error

    def __repr__(self) -> str:
        return f"{type(self).__name__}(temperature={self._temperature!r}, seed={self._seed!r})"


class SoftmaxSampling(StochasticSelection):
    """Sampling with probabilities ``p_i ∝ exp(s_i / temperature)``.

    Kirsch et al. (2023) write this as ``exp(β s_i)`` with ``β = 1 / temperature``.
    With ``order=ScoreOrder.LOWER_FIRST`` the scores are negated, so
    ``p_i ∝ exp(-s_i / temperature)``. Scores may have any sign. Adding a
    constant to every score leaves the distribution unchanged, but scaling them
    acts like a change of temperature.

    Example:
        >>> import numpy as np
        >>> sampling = SoftmaxSampling(temperature=0.5, seed=0)
        >>> sampling.select(np.arange(5), np.array([0.1, 0.9, 0.4, 0.8, 0.2]), k=2).shape
        (2,)
    """

    def _log_weights(self, scores: np.ndarray, order: ScoreOrder) -> np.ndarray:
        return scores if order is ScoreOrder.HIGHER_FIRST else -scores


class PowerSampling(StochasticSelection):
    """Sampling with probabilities ``p_i ∝ s_i ** (1 / temperature)``.

    Kirsch et al. (2023) write this as ``s_i ** β`` with ``β = 1 / temperature``
    and suggest it for nonnegative scores such as entropy or BALD. Only the
    ratios of the scores matter, so scaling every score leaves the distribution
    unchanged.

    A zero score has probability zero, so such items are chosen only after
    every item with a positive score. They fill the rest of the query in a
    uniformly random order, so that any ``k`` up to the pool size can be met.

    Raises:
        InvalidArgumentError: From :meth:`select`, on a negative score, or on
            ``order=ScoreOrder.LOWER_FIRST``, because a power of the score
            needs nonnegative scores where higher is better. Use
            :class:`SoftmaxSampling` or :class:`SoftRankSampling` in those
            cases.
    """

    def _log_weights(self, scores: np.ndarray, order: ScoreOrder) -> np.ndarray:
        if order is not ScoreOrder.HIGHER_FIRST:
            raise InvalidArgumentError(
                "order",
                "ScoreOrder.HIGHER_FIRST, because power sampling needs higher-is-better scores",
                f"ScoreOrder.{order.name}",
                "Use SoftmaxSampling or SoftRankSampling for scores where lower is better.",
            )
        negative = scores < 0
        if negative.any():
            raise InvalidArgumentError(
                "scores",
                "nonnegative scores for power sampling",
                f"a minimum score of {float(scores.min())!r}, with {int(negative.sum())} of "
                f"{scores.size} scores below 0",
                "Use SoftmaxSampling or SoftRankSampling for scores that can be negative.",
            )
        # log(0) = -inf gives zero scores probability zero.
        with np.errstate(divide="ignore"):
            return np.log(scores)


class SoftRankSampling(StochasticSelection):
    """Sampling with probabilities ``p_i ∝ rank_i ** (-1 / temperature)``.

    Kirsch et al. (2023) write this as ``r_i ** (-β)`` with ``β = 1 / temperature``.
    Rank 1 is the best score: the highest with ``ScoreOrder.HIGHER_FIRST`` and
    the lowest with ``ScoreOrder.LOWER_FIRST``. Equal scores get distinct
    ranks, ordered by ascending dataset id as in :func:`top_k_ids`. The
    distribution depends only on the ranking, so scores may have any sign and
    scale.
    """

    def _log_weights(self, scores: np.ndarray, order: ScoreOrder) -> np.ndarray:
        keys = -scores if order is ScoreOrder.HIGHER_FIRST else scores
        # The scores are aligned with ascending ids, so a stable sort breaks
        # ties by id.
        ranking = np.argsort(keys, kind="stable")
        ranks = np.empty(scores.size, dtype=np.float64)
        ranks[ranking] = np.arange(1, scores.size + 1)
        return -np.log(ranks)


def _check_temperature(temperature: Any) -> float:
    is_real = isinstance(temperature, Real) and not isinstance(temperature, (bool, np.bool_))
    if not is_real or not math.isfinite(temperature) or temperature <= 0:
        raise InvalidArgumentError(
            "temperature",
            "a finite number greater than 0",
            temperature,
            "Pass a temperature such as 1.0. Lower values give selections closer to top-k.",
        )
    return float(temperature)


def _check_seed(seed: Any) -> int | None:
    if seed is None:
        return None
    if not isinstance(seed, Integral) or isinstance(seed, (bool, np.bool_)) or seed < 0:
        raise InvalidArgumentError(
            "seed",
            "a nonnegative int or None",
            seed,
            "Pass a seed such as 0, or None to seed from the operating system.",
        )
    return int(seed)
