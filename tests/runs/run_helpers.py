"""A small seeded set-up for run-directory tests: data, model, strategy and a quiet trainer."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch.utils.data import TensorDataset

import energizer
from energizer.models import MLPClassifier
from energizer.query_strategies import EntropyStrategy

NUM_FEATURES = 4
NUM_CLASSES = 3


class CountingClassifier(MLPClassifier):
    """An MLPClassifier that counts the fits started on it."""

    def __init__(self, hidden: int = 8, learning_rate: float = 1e-2) -> None:
        super().__init__(NUM_FEATURES, NUM_CLASSES, hidden_sizes=(hidden,), learning_rate=learning_rate)
        self.fits = 0

    def on_fit_start(self) -> None:
        self.fits += 1


def make_dataset(num_items: int = 60, shift: float = 0.0) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    targets = torch.arange(num_items) % NUM_CLASSES
    features = torch.eye(NUM_CLASSES, NUM_FEATURES)[targets] + torch.randn(num_items, NUM_FEATURES, generator=generator)
    return TensorDataset(features + shift, targets)


def make_run(
    global_seed: int = 0,
    *,
    hidden: int = 8,
    learning_rate: float = 1e-2,
    dataset: TensorDataset | None = None,
    strategy_class=EntropyStrategy,
    trainer_options: dict | None = None,
):
    """Return ``(strategy, datamodule, trainer)`` built after seeding the global generators.

    ``trainer_options`` replace or add ``energizer.Trainer`` arguments.
    """
    pl.seed_everything(global_seed, verbose=False)
    datamodule = energizer.ActiveDataModule(
        dataset if dataset is not None else make_dataset(),
        test_dataset=make_dataset(30, shift=0.1),
        initial_labels=6,
        batch_size=8,
    )
    strategy = strategy_class(CountingClassifier(hidden, learning_rate))
    options = dict(
        max_epochs=2,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    options.update(trainer_options or {})
    trainer = energizer.Trainer(**options)
    return strategy, datamodule, trainer
