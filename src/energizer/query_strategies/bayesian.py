"""Bayesian strategies: scores from Monte Carlo dropout samples of the model's predictions."""

from __future__ import annotations

from numbers import Integral
from typing import Any, ClassVar

import numpy as np
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor, nn

from energizer.acquisition import bald, expected_entropy, mean_std, predictive_entropy, variation_ratios
from energizer.errors import InvalidArgumentError, MissingDropoutError
from energizer.query_strategies.base import ModelOutput, QueryStrategy
from energizer.query_strategies.mc_dropout import (
    ConsistentDropoutMasks,
    dropout_only_train_mode,
    find_dropout_modules,
    sample_logits,
)
from energizer.seeding import derive_seed
from energizer.selection import PowerSampling, Selection, SoftmaxSampling, SoftRankSampling

__all__ = [
    "BayesianStrategy",
    "BALDStrategy",
    "ExpectedEntropyStrategy",
    "PredictiveEntropyStrategy",
    "VariationRatiosStrategy",
    "MeanStdStrategy",
    "PowerBALDStrategy",
    "SoftmaxBALDStrategy",
    "SoftRankBALDStrategy",
]


class BayesianStrategy(QueryStrategy):
    """Base class of the strategies that score Monte Carlo dropout samples.

    For each pool batch the model runs ``num_samples`` times with only its
    dropout layers active; :meth:`score_mc_logits` turns the logits of shape
    ``(B, T, C)`` into one score per item. Only the scores are kept, never
    the samples.

    Args:
        model: The user's model; it needs at least one ``torch.nn`` dropout layer.
        num_samples: Monte Carlo samples ``T`` per item, at least 2.
        consistent_masks: Use the same ``T`` seeded dropout masks for every
            pool item (the default), so that scores depend on neither the
            batch size, the batch mates nor the number of processes. ``False``
            gives every item of every pass its own mask.
        stack_samples: Run the ``T`` passes as one forward pass over ``T``
            stacked copies of the batch (faster for small models). ``False``
            runs one pass per sample and needs ``T`` times less memory.
        selection: How scores become ids; top-k by default.
        seed: Seed of the consistent masks (and of a stochastic selection
            built by a subclass).
        subpool_size: See :class:`~energizer.query_strategies.QueryStrategy`.
    """

    requires: ClassVar[frozenset[ModelOutput]] = frozenset({ModelOutput.MC_LOGITS})

    def __init__(
        self,
        model: nn.Module,
        *,
        num_samples: int = 20,
        consistent_masks: bool = True,
        stack_samples: bool = True,
        selection: Selection | None = None,
        seed: int | None = None,
        subpool_size: int | None = None,
    ) -> None:
        super().__init__(model, selection=selection, seed=seed, subpool_size=subpool_size)
        is_count = isinstance(num_samples, Integral) and not isinstance(num_samples, bool)
        if not is_count or num_samples < 2:
            raise InvalidArgumentError(
                "num_samples",
                "an integer >= 2 (Monte Carlo samples per item)",
                repr(num_samples),
                "Pass e.g. num_samples=20.",
            )
        flags = {"consistent_masks": consistent_masks, "stack_samples": stack_samples}
        for name, flag in flags.items():
            if not isinstance(flag, (bool, np.bool_)):
                raise InvalidArgumentError(
                    name, "True or False", repr(flag), f"Pass {name}=True or {name}=False."
                )
        self.num_samples = int(num_samples)
        self.consistent_masks = bool(consistent_masks)
        self.stack_samples = bool(stack_samples)

    def check_setup(self, query_size: int | None = None) -> None:
        """Raise :class:`MissingDropoutError` when the model has no dropout layer."""
        super().check_setup(query_size)
        modules = find_dropout_modules(self.model)
        if not modules:
            raise MissingDropoutError(
                f"{type(self).__name__} samples predictions with Monte Carlo dropout, but the "
                f"model {type(self.model).__name__} has no torch.nn dropout layer. Add a "
                "torch.nn.Dropout before the last layers of the model, or use a strategy that "
                "needs one deterministic pass, such as EntropyStrategy."
            )
        if any(float(module.p) == 1.0 for module in modules):
            rank_zero_warn(
                f"A dropout layer of {type(self.model).__name__} has p=1, so it zeroes its "
                f"input in every Monte Carlo sample of {type(self).__name__}."
            )
        if all(float(module.p) == 0.0 for module in modules):
            rank_zero_warn(
                f"Every dropout layer of {type(self.model).__name__} has p=0, so the Monte Carlo "
                f"samples of {type(self).__name__} are identical and carry no model uncertainty."
            )

    def compute_mc_logits(self, inputs: Any) -> Tensor:
        """Return Monte Carlo logits of shape ``(B, T, C)`` for the inputs of ``B`` items.

        Every module's train or eval mode is restored afterwards, also when
        the model raises.
        """
        # The batch's ids give the true number of items, which the inputs' layout may hide.
        options = {"stack_samples": self.stack_samples, "batch_size": self.items_in_batch}
        if self.consistent_masks:
            with ConsistentDropoutMasks(self.model, self._mask_seed()) as masks:
                return sample_logits(self.compute_logits, inputs, self.num_samples, masks=masks, **options)
        with dropout_only_train_mode(self.model):
            return sample_logits(self.compute_logits, inputs, self.num_samples, **options)

    def score_mc_logits(self, logits: Tensor) -> Tensor:
        """Return one score per item from logits of shape ``(B, T, C)``; higher is more informative."""
        raise NotImplementedError(f"{type(self).__name__} must implement score_mc_logits(logits).")

    def pool_step(self, batch: Any, batch_idx: int) -> Tensor:
        return self.score_mc_logits(self.compute_mc_logits(self.get_inputs_from_batch(batch)))

    def _mask_seed(self) -> int:
        # New masks every round, the same ones for every batch of a round.
        return derive_seed(self.seed, self.round_index + 1)


class BALDStrategy(BayesianStrategy):
    """Query the items with the highest mutual information between prediction and weights (BALD)."""

    def score_mc_logits(self, logits: Tensor) -> Tensor:
        return bald(logits)


class ExpectedEntropyStrategy(BayesianStrategy):
    """Query the items with the highest expected entropy over Monte Carlo samples."""

    def score_mc_logits(self, logits: Tensor) -> Tensor:
        return expected_entropy(logits)


class PredictiveEntropyStrategy(BayesianStrategy):
    """Query the items with the highest entropy of the mean Monte Carlo prediction."""

    def score_mc_logits(self, logits: Tensor) -> Tensor:
        return predictive_entropy(logits)


class VariationRatiosStrategy(BayesianStrategy):
    """Query the items whose Monte Carlo samples disagree most with their modal class."""

    def score_mc_logits(self, logits: Tensor) -> Tensor:
        return variation_ratios(logits)


class MeanStdStrategy(BayesianStrategy):
    """Query the items with the largest mean standard deviation of class probabilities."""

    def score_mc_logits(self, logits: Tensor) -> Tensor:
        return mean_std(logits)


class _StochasticBALD(BALDStrategy):
    sampling: ClassVar[type[Selection]]

    def __init__(
        self,
        model: nn.Module,
        *,
        temperature: float = 1.0,
        num_samples: int = 20,
        consistent_masks: bool = True,
        stack_samples: bool = True,
        seed: int | None = None,
        subpool_size: int | None = None,
    ) -> None:
        super().__init__(
            model,
            num_samples=num_samples,
            consistent_masks=consistent_masks,
            stack_samples=stack_samples,
            selection=self.sampling(temperature=temperature, seed=seed),
            seed=seed,
            subpool_size=subpool_size,
        )


class PowerBALDStrategy(_StochasticBALD):
    """Sample the query with probabilities proportional to BALD ** (1 / temperature).

    Stochastic batch acquisition (Kirsch et al. 2023, "Stochastic Batch
    Acquisition: A Simple Baseline for Deep Active Learning"): a cheap
    alternative to BatchBALD that avoids redundant top-k batches.
    """

    sampling = PowerSampling


class SoftmaxBALDStrategy(_StochasticBALD):
    """Sample the query with probabilities proportional to exp(BALD / temperature)."""

    sampling = SoftmaxSampling


class SoftRankBALDStrategy(_StochasticBALD):
    """Sample the query with probabilities proportional to rank ** (-1 / temperature) by BALD."""

    sampling = SoftRankSampling
