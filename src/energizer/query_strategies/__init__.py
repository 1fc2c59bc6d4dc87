"""Query strategies: which pool items to label next."""

from energizer.query_strategies.badge import BADGEStrategy
from energizer.query_strategies.base import ModelOutput, PredictPass, QueryStrategy
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
from energizer.query_strategies.cluster_margin import ClusterMarginStrategy
from energizer.query_strategies.coreset import CoresetStrategy
from energizer.query_strategies.embedding_strategy import EmbeddingStrategy
from energizer.query_strategies.random import RandomStrategy
from energizer.query_strategies.typiclust import TypiClustStrategy
from energizer.query_strategies.uncertainty import (
    EntropyStrategy,
    LeastConfidenceStrategy,
    MarginStrategy,
    UncertaintyStrategy,
)

__all__ = [
    "BADGEStrategy",
    "BALDStrategy",
    "BatchBALDStrategy",
    "BayesianStrategy",
    "ClusterMarginStrategy",
    "CoresetStrategy",
    "EmbeddingStrategy",
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
    "PredictPass",
    "QueryStrategy",
    "RandomStrategy",
    "TypiClustStrategy",
    "UncertaintyStrategy",
]
