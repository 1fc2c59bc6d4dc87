"""Acquisition functions: pure tensor functions that score pool items for labelling."""

from energizer.acquisition.batch_bald import batch_bald
from energizer.acquisition.bayesian import (
    bald,
    expected_entropy,
    mean_std,
    predictive_entropy,
    variation_ratios,
)
from energizer.acquisition.uncertainty import entropy, least_confidence, margin

__all__ = [
    "bald",
    "batch_bald",
    "entropy",
    "expected_entropy",
    "least_confidence",
    "margin",
    "mean_std",
    "predictive_entropy",
    "variation_ratios",
]
