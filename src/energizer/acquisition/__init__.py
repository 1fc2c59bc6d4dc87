"""Acquisition functions: pure tensor functions that score pool items for labelling."""

from energizer.acquisition.uncertainty import entropy, least_confidence, margin

__all__ = ["entropy", "least_confidence", "margin"]
