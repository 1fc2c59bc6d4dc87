"""A multilayer perceptron classifier with dropout, for tabular and small image data."""

from __future__ import annotations

from collections.abc import Sequence

import lightning.pytorch as pl
import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["MLPClassifier"]


class MLPClassifier(pl.LightningModule):
    """Fully connected classifier: ``Linear -> ReLU -> Dropout`` blocks, then a ``Linear`` head.

    The dropout layers let Monte Carlo dropout strategies sample from it.
    ``forward`` returns logits of shape ``(B, num_classes)``. It logs
    ``train_loss``, ``val_loss``, ``val_accuracy``, ``test_loss`` and
    ``test_accuracy``.

    Args:
        num_features: Length of each input vector.
        num_classes: Number of classes.
        hidden_sizes: Width of each hidden layer.
        dropout: Dropout probability after each hidden layer.
        learning_rate: Learning rate of the Adam optimizer.
        weight_decay: L2 penalty of the optimizer.
    """

    def __init__(
        self,
        num_features: int,
        num_classes: int,
        hidden_sizes: Sequence[int] = (128, 128),
        dropout: float = 0.25,
        learning_rate: float = 1e-3,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        layers: list[nn.Module] = []
        width = num_features
        for hidden in hidden_sizes:
            layers += [nn.Linear(width, hidden), nn.ReLU(), nn.Dropout(dropout)]
            width = hidden
        layers.append(nn.Linear(width, num_classes))
        self.network = nn.Sequential(*layers)

    def forward(self, inputs: Tensor) -> Tensor:
        return self.network(inputs.flatten(start_dim=1))

    def training_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> Tensor:
        inputs, targets = batch
        loss = F.cross_entropy(self(inputs), targets)
        self.log("train_loss", loss, batch_size=len(targets))
        return loss

    def validation_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "val")

    def test_step(self, batch: tuple[Tensor, Tensor], batch_idx: int) -> None:
        self._evaluate(batch, "test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.Adam(
            self.parameters(), lr=self.hparams.learning_rate, weight_decay=self.hparams.weight_decay
        )

    def _evaluate(self, batch: tuple[Tensor, Tensor], stage: str) -> None:
        inputs, targets = batch
        logits = self(inputs)
        batch_size = len(targets)
        # sync_dist: in a distributed run every process gets the metric over all processes' batches.
        self.log(f"{stage}_loss", F.cross_entropy(logits, targets), batch_size=batch_size, sync_dist=True)
        accuracy = (logits.argmax(dim=1) == targets).float().mean()
        self.log(f"{stage}_accuracy", accuracy, batch_size=batch_size, sync_dist=True)
