"""Query strategies: which pool items to label next."""

from energizer.query_strategies.base import ModelOutput, QueryStrategy
from energizer.query_strategies.random import RandomStrategy
from energizer.query_strategies.uncertainty import (
    EntropyStrategy,
    LeastConfidenceStrategy,
    MarginStrategy,
    UncertaintyStrategy,
)

__all__ = [
    "EntropyStrategy",
    "LeastConfidenceStrategy",
    "MarginStrategy",
    "ModelOutput",
    "QueryStrategy",
    "RandomStrategy",
    "UncertaintyStrategy",
]
