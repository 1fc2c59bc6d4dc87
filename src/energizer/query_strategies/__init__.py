"""Query strategies: which pool items to label next."""

from energizer.query_strategies.base import ModelOutput, QueryStrategy
from energizer.query_strategies.batch_bald import BatchBALDStrategy
from energizer.query_strategies.bayesian import (
    BALDStrategy,
    BayesianStrategy,
    ExpectedEntropyStrategy,
    MeanStdStrategy,
    PowerBALDStrategy,
    PredictiveEntropyStrategy,
    SoftmaxBALDStrategy,
    SoftRankBALDStrategy,
    VariationRatiosStrategy,
)
from energizer.query_strategies.random import RandomStrategy
from energizer.query_strategies.uncertainty import (
    EntropyStrategy,
    LeastConfidenceStrategy,
    MarginStrategy,
    UncertaintyStrategy,
)

__all__ = [
    "BALDStrategy",
    "BatchBALDStrategy",
    "BayesianStrategy",
    "EntropyStrategy",
    "ExpectedEntropyStrategy",
    "MeanStdStrategy",
    "PowerBALDStrategy",
    "PredictiveEntropyStrategy",
    "SoftmaxBALDStrategy",
    "SoftRankBALDStrategy",
    "VariationRatiosStrategy",
    "LeastConfidenceStrategy",
    "MarginStrategy",
    "ModelOutput",
    "QueryStrategy",
    "RandomStrategy",
    "UncertaintyStrategy",
]
