"""Tests of the command-line names of the query strategies."""

from __future__ import annotations

import re

import pytest

from energizer.errors import InvalidArgumentError
from energizer.query_strategies import (
    BADGEStrategy,
    BALDStrategy,
    BatchBALDStrategy,
    ClusterMarginStrategy,
    CoresetStrategy,
    EntropyStrategy,
    ExpectedEntropyStrategy,
    LeastConfidenceStrategy,
    MarginStrategy,
    MeanStdStrategy,
    PowerBALDStrategy,
    PredictiveEntropyStrategy,
    QueryStrategy,
    RandomStrategy,
    SoftmaxBALDStrategy,
    SoftRankBALDStrategy,
    TypiClustStrategy,
    VariationRatiosStrategy,
)
from energizer.query_strategies.registry import STRATEGIES, strategy_class

NAMES = {
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


@pytest.mark.parametrize(("name", "expected"), NAMES.items(), ids=list(NAMES))
def test_name_maps_to_class(name, expected):
    assert strategy_class(name) is expected


def test_registry_has_every_name():
    assert set(STRATEGIES) == set(NAMES)


@pytest.mark.parametrize("name", list(STRATEGIES))
def test_registered_class_is_strategy(name):
    assert issubclass(STRATEGIES[name], QueryStrategy)


@pytest.mark.parametrize("name", ["core-set", "Entropy", "least_confidence", ""])
def test_unknown_name_raises(name):
    message = (
        "Invalid `strategy`: expected one of random, entropy, margin, least-confidence, bald, "
        "batchbald, power-bald, softmax-bald, softrank-bald, predictive-entropy, "
        "expected-entropy, variation-ratios, mean-std, coreset, badge, typiclust, cluster-margin, "
        f"received {name!r}. "
        "Choose one of the listed strategies."
    )

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        strategy_class(name)


@pytest.mark.parametrize("valid_name", list(STRATEGIES))
def test_unknown_name_lists_each(valid_name):
    with pytest.raises(InvalidArgumentError) as raised:
        strategy_class("core-set")

    assert valid_name in str(raised.value)
