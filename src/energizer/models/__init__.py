"""Ready-made models for the bundled data sets."""

from energizer.models.mlp import MLPClassifier

__all__ = ["MLPClassifier"]
