"""A small 1D convolutional classifier for MNIST-1D's signals of length 40."""

from __future__ import annotations

import lightning.pytorch as pl
import torch
from torch import Tensor, nn
from torch.nn import functional as F


class CNN1DClassifier(pl.LightningModule):
    """Three ``Conv1d -> ReLU`` blocks, then ``Linear -> ReLU -> Dropout -> Linear``.

    Inputs are ``(B, L)`` signals, outputs ``(B, num_classes)`` logits. The
    dropout layer serves the Monte Carlo dropout strategies, and the input of
    the last ``Linear`` (128 values) is the embedding of the diversity
    strategies. It logs ``test_accuracy`` and ``test_loss``.
    """

    def __init__(
        self,
        num_classes: int,
        channels: int = 32,
        hidden: int = 128,
        dropout: float = 0.25,
        learning_rate: float = 1e-3,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.features = nn.Sequential(
            nn.Conv1d(1, channels, kernel_size=5, padding=2),
            nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size=3, padding=1, stride=2),
            nn.ReLU(),
            nn.Conv1d(channels, channels, kernel_size=3, padding=1, stride=2),
            nn.ReLU(),
            nn.Flatten(),
        )
        # Two stride-2 convolutions take a length-40 signal to length 10.
        self.head = nn.Sequential(
            nn.Linear(channels * 10, hidden), nn.ReLU(), nn.Dropout(dropout), nn.Linear(hidden, num_classes)
        )

    def forward(self, inputs: Tensor) -> Tensor:
        return self.head(self.features(inputs.unsqueeze(1)))

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, targets = batch
        loss = F.cross_entropy(self(inputs), targets)
        self.log("train_loss", loss, batch_size=len(targets))
        return loss

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        inputs, targets = batch
        logits = self(inputs)
        self.log("test_loss", F.cross_entropy(logits, targets), batch_size=len(targets))
        self.log("test_accuracy", (logits.argmax(dim=1) == targets).float().mean(), batch_size=len(targets))

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(self.parameters(), lr=self.hparams.learning_rate)
