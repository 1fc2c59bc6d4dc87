"""Command-line names of the query strategies."""

from __future__ import annotations

from energizer.errors import InvalidArgumentError
from energizer.query_strategies.badge import BADGEStrategy
from energizer.query_strategies.base import QueryStrategy
from energizer.query_strategies.batch_bald import BatchBALDStrategy
from energizer.query_strategies.bayesian import (
    BALDStrategy,
    ExpectedEntropyStrategy,
    MeanStdStrategy,
    PowerBALDStrategy,
    PredictiveEntropyStrategy,
    SoftmaxBALDStrategy,
    SoftRankBALDStrategy,
    VariationRatiosStrategy,
)
from energizer.query_strategies.cluster_margin import ClusterMarginStrategy
from energizer.query_strategies.coreset import CoresetStrategy
from energizer.query_strategies.random import RandomStrategy
from energizer.query_strategies.typiclust import TypiClustStrategy
from energizer.query_strategies.uncertainty import (
    EntropyStrategy,
    LeastConfidenceStrategy,
    MarginStrategy,
)

__all__ = ["STRATEGIES", "strategy_class"]

STRATEGIES: dict[str, type[QueryStrategy]] = {
    "random": RandomStrategy,
    "entropy": EntropyStrategy,
    "margin": MarginStrategy,
    "least-confidence": LeastConfidenceStrategy,
    "bald": BALDStrategy,
    "batchbald": BatchBALDStrategy,
    "power-bald": PowerBALDStrategy,
    "softmax-bald": SoftmaxBALDStrategy,
    "softrank-bald": SoftRankBALDStrategy,
    "predictive-entropy": PredictiveEntropyStrategy,
    "expected-entropy": ExpectedEntropyStrategy,
    "variation-ratios": VariationRatiosStrategy,
    "mean-std": MeanStdStrategy,
    "coreset": CoresetStrategy,
    "badge": BADGEStrategy,
    "typiclust": TypiClustStrategy,
    "cluster-margin": ClusterMarginStrategy,
}
"""Strategy classes by the name ``energizer simulate --strategy`` takes."""


def strategy_class(name: str) -> type[QueryStrategy]:
    """Return the strategy class registered as ``name``.

    Raises:
        InvalidArgumentError: On an unknown name; the message lists the valid ones.
    """
    try:
        return STRATEGIES[name]
    except KeyError:
        raise InvalidArgumentError(
            "strategy", f"one of {', '.join(STRATEGIES)}", repr(name), "Choose one of the listed strategies."
        ) from None
