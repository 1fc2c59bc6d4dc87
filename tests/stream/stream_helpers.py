"""Constructed score streams, a decision trace, and a tiny model for stream loop tests."""

from __future__ import annotations

from dataclasses import dataclass

import lightning.pytorch as pl
import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from energizer.stream import BudgetManager, EstimatedBudget, StreamStrategy


def long_scores(num_items: int = 20_000, seed: int = 0) -> np.ndarray:
    """Uniform scores in [0, 1), with a quiet stretch (scores near 0) and a busy one (near 1).

    The quiet stretch lets labels pile up under a manager that keeps them, and
    the busy stretch right after tempts every strategy to spend them at once.
    """
    generator = np.random.default_rng(seed)
    scores = generator.random(num_items)
    quiet = slice(num_items // 4, num_items // 2)
    busy = slice(num_items // 2, num_items // 2 + num_items // 10)
    scores[quiet] *= 0.01
    scores[busy] = 0.99 + 0.01 * scores[busy]
    return scores


@dataclass
class Trace:
    """What happened at each item: whether a label was allowed, the decision, and the state after it."""

    allowed: np.ndarray
    queried: np.ndarray
    fraction: np.ndarray
    estimate: np.ndarray
    threshold: np.ndarray


def trace(strategy: StreamStrategy, budget: BudgetManager, scores: np.ndarray) -> Trace:
    """Run ``strategy`` over ``scores`` item by item, as ``decide_items`` does, recording every step."""
    count = len(scores)
    allowed = np.zeros(count, dtype=bool)
    queried = np.zeros(count, dtype=bool)
    fraction = np.zeros(count)
    estimate = np.full(count, np.nan)
    threshold = np.full(count, np.nan)
    for position, score in enumerate(scores):
        allowed[position] = budget.allows()
        decision = strategy.decide(float(score) if strategy.needs_scores else None, budget)
        budget.record(decision)
        queried[position] = decision
        fraction[position] = budget.labelled_fraction
        if isinstance(budget, EstimatedBudget):
            estimate[position] = budget.estimate
        threshold[position] = getattr(strategy, "threshold", np.nan)
    return Trace(allowed, queried, fraction, estimate, threshold)


class TinyClassifier(pl.LightningModule):
    """A linear classifier over 4 features and 3 classes, for fast loop tests."""

    def __init__(self) -> None:
        super().__init__()
        self.layer = nn.Linear(4, 3)
        self.fit_sizes: list[int] = []

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layer(inputs)

    def on_train_start(self) -> None:
        self.fit_sizes.append(len(self.trainer.train_dataloader.dataset))

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        return F.cross_entropy(self(inputs), targets)

    def test_step(self, batch, batch_idx):
        inputs, targets = batch
        accuracy = (self(inputs).argmax(dim=1) == targets).float().mean()
        self.log("test_accuracy", accuracy, batch_size=len(targets))

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def blobs(num_items: int, seed: int = 0) -> TensorDataset:
    """Three Gaussian blobs in four dimensions, one per class."""
    generator = torch.Generator().manual_seed(seed)
    targets = torch.arange(num_items) % 3
    centres = torch.tensor([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    features = centres[targets] + 0.5 * torch.randn(num_items, 4, generator=generator)
    return TensorDataset(features, targets)


def quiet_trainer_kwargs(**overrides) -> dict:
    """Trainer arguments for fast, silent CPU updates."""
    kwargs = {
        "max_steps": 3,
        "logger": False,
        "enable_checkpointing": False,
        "enable_progress_bar": False,
        "enable_model_summary": False,
        "accelerator": "cpu",
    }
    kwargs.update(overrides)
    return kwargs
