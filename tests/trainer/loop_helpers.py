"""A tiny classifier and data set for loop tests, with hooks that record what each round did."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import TensorDataset

import energizer


class RecordingClassifier(pl.LightningModule):
    """A linear classifier that records, for every fit, its epochs and starting state."""

    def __init__(self, num_features: int = 4, num_classes: int = 3, learning_rate: float = 0.05) -> None:
        super().__init__()
        self.layer = nn.Linear(num_features, num_classes)
        self.learning_rate = learning_rate
        self.epochs_per_fit: list[int] = []
        self.weights_at_fit_start: list[dict[str, torch.Tensor]] = []
        self.optimizer_state_sizes: list[int] = []
        self.scheduler_epochs_at_start: list[int] = []

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.layer(inputs)

    def on_fit_start(self) -> None:
        self.epochs_per_fit.append(0)
        self.weights_at_fit_start.append({k: v.detach().clone() for k, v in self.state_dict().items()})

    def on_train_start(self) -> None:
        optimizer = self.trainer.optimizers[0]
        self.optimizer_state_sizes.append(len(optimizer.state))
        self.scheduler_epochs_at_start.append(self.trainer.lr_scheduler_configs[0].scheduler.last_epoch)

    def on_train_epoch_end(self) -> None:
        self.epochs_per_fit[-1] += 1

    def training_step(self, batch, batch_idx):
        inputs, targets = batch
        return F.cross_entropy(self(inputs), targets)

    def test_step(self, batch, batch_idx):
        inputs, targets = batch
        accuracy = (self(inputs).argmax(dim=1) == targets).float().mean()
        self.log("test_accuracy", accuracy, batch_size=len(targets))

    def configure_optimizers(self):
        optimizer = torch.optim.Adam(self.parameters(), lr=self.learning_rate)
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.9)
        return [optimizer], [scheduler]


def make_dataset(num_items: int, seed: int = 0) -> TensorDataset:
    """Three Gaussian blobs in four dimensions, so a linear model can learn them."""
    generator = torch.Generator().manual_seed(seed)
    targets = torch.arange(num_items) % 3
    centres = torch.tensor([[2.0, 0, 0, 0], [0, 2.0, 0, 0], [0, 0, 2.0, 0]])
    features = centres[targets] + 0.5 * torch.randn(num_items, 4, generator=generator)
    return TensorDataset(features, targets)


def quiet_trainer(**kwargs) -> energizer.Trainer:
    options = dict(
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        accelerator="cpu",
    )
    options.update(kwargs)
    return energizer.Trainer(**options)
