"""Shared data, models and trainers for the query strategy tests.

They live in this uniquely named module rather than in conftest.py because
test directories without ``__init__.py`` each import their conftest.py as the
top-level module ``conftest``, so ``from conftest import ...`` can load
another directory's file when pytest collects several directories.
"""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch import Tensor, nn
from torch.utils.data import TensorDataset

import energizer

NUM_ITEMS = 60
NUM_FEATURES = 4
NUM_CLASSES = 3


def make_trainer() -> energizer.Trainer:
    """Build a quiet CPU trainer: the tests run tiny models and need no accelerator."""
    return energizer.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )


def make_dataset(seed: int = 0) -> TensorDataset:
    """Build ``NUM_ITEMS`` items of ``(features, target)`` with ``NUM_FEATURES`` features each."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(NUM_ITEMS, NUM_FEATURES, generator=generator)
    targets = torch.randint(0, NUM_CLASSES, (NUM_ITEMS,), generator=generator)
    return TensorDataset(features, targets)


class SeededClassifier(pl.LightningModule):
    """A small classifier whose weights depend only on ``seed``.

    It has BatchNorm and dropout layers so that a pool pass run in training
    mode would change the BatchNorm running statistics and make the scores
    random. With the dataset of ``make_dataset(0)``, every pair of pool
    scores differs by more than 1e-5 for entropy, margin and least
    confidence, so a ranking cannot flip on rounding.
    """

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Linear(NUM_FEATURES, 8),
            nn.BatchNorm1d(8),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(8, NUM_CLASSES),
        )
        # A local generator keeps the global torch seed untouched.
        generator = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            for parameter in self.net.parameters():
                parameter.copy_(torch.randn(parameter.shape, generator=generator))

    def forward(self, features: Tensor) -> Tensor:
        return self.net(features)


class IdentityModel(nn.Module):
    """A model whose logits are its inputs, so that a test sets every logit by hand."""

    def forward(self, logits: Tensor) -> Tensor:
        return logits


def logits_dataset(logits: list[list[float]] | Tensor) -> TensorDataset:
    """Build a dataset whose items are ``(logits_row, 0)``, for use with :class:`IdentityModel`."""
    rows = torch.as_tensor(logits, dtype=torch.float32)
    return TensorDataset(rows, torch.zeros(rows.shape[0], dtype=torch.int64))
