"""scikit-learn's bundled classification data sets as train and test ``TensorDataset`` s.

They ship inside scikit-learn, so loading them needs no download.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.datasets import load_breast_cancer, load_digits, load_wine
from sklearn.model_selection import train_test_split
from torch.utils.data import TensorDataset

from energizer.errors import InvalidArgumentError

__all__ = ["BUNDLED_DATASETS", "BundledData", "load_bundled"]

BUNDLED_DATASETS: dict[str, Callable[..., Any]] = {
    "digits": load_digits,  # 1,797 handwritten digits, 8x8 pixels, 10 classes
    "breast-cancer": load_breast_cancer,  # 569 tumours (WDBC), 30 features, 2 classes
    "wine": load_wine,  # 178 wines, 13 features, 3 classes
}
"""Loaders of the bundled data sets, by the name the command line uses."""


@dataclass(frozen=True)
class BundledData:
    """A bundled data set split into a train pool and a test set.

    Attributes:
        name: Name in :data:`BUNDLED_DATASETS`.
        train: ``TensorDataset`` of ``(features, target)``; features are
            float32 of shape ``(num_features,)``, targets int64 class indices.
        test: Same layout, disjoint from ``train``.
        num_features: Length of each feature vector.
        num_classes: Number of classes.
    """

    name: str
    train: TensorDataset
    test: TensorDataset
    num_features: int
    num_classes: int


def load_bundled(name: str, *, test_fraction: float = 0.3, seed: int = 0) -> BundledData:
    """Load a bundled data set, split it stratified by class, and standardise its features.

    Features are scaled to zero mean and unit variance with statistics of the
    train split only; constant features stay at zero.

    Args:
        name: One of the keys of :data:`BUNDLED_DATASETS`.
        test_fraction: Share of the items held out for testing, in ``(0, 1)``.
        seed: Seed of the split.

    Raises:
        InvalidArgumentError: On an unknown name or a fraction outside ``(0, 1)``.
    """
    if name not in BUNDLED_DATASETS:
        raise InvalidArgumentError(
            "dataset",
            f"one of {', '.join(BUNDLED_DATASETS)}",
            repr(name),
            "Choose one of the listed bundled data sets.",
        )
    if not 0 < test_fraction < 1:
        raise InvalidArgumentError(
            "test_fraction", "a number strictly between 0 and 1", test_fraction, "Pass e.g. 0.3."
        )
    bunch = BUNDLED_DATASETS[name]()
    features = np.asarray(bunch.data, dtype=np.float32)
    targets = np.asarray(bunch.target, dtype=np.int64)
    train_x, test_x, train_y, test_y = train_test_split(
        features, targets, test_size=test_fraction, stratify=targets, random_state=seed
    )
    mean = train_x.mean(axis=0)
    std = train_x.std(axis=0)
    std[std == 0] = 1.0
    train_x = (train_x - mean) / std
    test_x = (test_x - mean) / std
    return BundledData(
        name=name,
        train=TensorDataset(torch.from_numpy(train_x), torch.from_numpy(train_y)),
        test=TensorDataset(torch.from_numpy(test_x), torch.from_numpy(test_y)),
        num_features=features.shape[1],
        num_classes=int(targets.max()) + 1,
    )
