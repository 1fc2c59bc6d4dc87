"""Active learning on your own LightningModule, with no change to the model's code.

The model below is an ordinary Lightning classifier: a small convolutional
network for scikit-learn's 8x8 handwritten digits. energizer wraps it in a
query strategy and runs the labelling rounds.

Run it with ``python examples/custom_model.py``; ``--help`` lists the options.
"""

from __future__ import annotations

import argparse

import lightning.pytorch as pl
import torch
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn import functional as F
from torch.utils.data import TensorDataset

import energizer
from energizer.query_strategies import EntropyStrategy


class DigitsCNN(pl.LightningModule):
    """An ordinary LightningModule, with no code for active learning."""

    def __init__(self, learning_rate: float = 1e-3) -> None:
        super().__init__()
        self.learning_rate = learning_rate
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, kernel_size=3, padding=1),
            nn.ReLU(),
            nn.Flatten(),
        )
        self.head = nn.Sequential(nn.Dropout(0.25), nn.Linear(32 * 4 * 4, 10))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(images))

    def training_step(self, batch, batch_idx):
        images, labels = batch
        loss = F.cross_entropy(self(images), labels)
        self.log("train_loss", loss)
        return loss

    def test_step(self, batch, batch_idx):
        images, labels = batch
        accuracy = (self(images).argmax(dim=1) == labels).float().mean()
        self.log("test_accuracy", accuracy)

    def configure_optimizers(self):
        return torch.optim.Adam(self.parameters(), lr=self.learning_rate)


def digits_datasets(seed: int) -> tuple[TensorDataset, TensorDataset]:
    """Scikit-learn's bundled digits as 1x8x8 images scaled to [0, 1], split 70/30."""
    digits = load_digits()
    images = torch.tensor(digits.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = torch.tensor(digits.target)
    train_ids, test_ids = train_test_split(
        range(len(labels)), test_size=0.3, stratify=digits.target, random_state=seed
    )
    return (
        TensorDataset(images[train_ids], labels[train_ids]),
        TensorDataset(images[test_ids], labels[test_ids]),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="active learning rounds")
    parser.add_argument("--query-size", type=int, default=25, help="items labelled per round")
    parser.add_argument("--max-epochs", type=int, default=30, help="training epochs per round")
    parser.add_argument("--seed", type=int, default=0, help="seed of the split, labels and weights")
    args = parser.parse_args()

    pl.seed_everything(args.seed)
    train, test = digits_datasets(args.seed)
    datamodule = energizer.ActiveDataModule(
        train, test_dataset=test, batch_size=32, initial_labels=25, seed=args.seed
    )
    strategy = EntropyStrategy(DigitsCNN())
    trainer = energizer.Trainer(max_epochs=args.max_epochs, enable_checkpointing=False, logger=False)
    results = trainer.active_fit(
        strategy, datamodule, query_size=args.query_size, max_rounds=args.rounds
    )
    print(results.to_pandas()[["round", "num_labelled", "test_accuracy"]].to_string(index=False))
    print(results.stop_message)


if __name__ == "__main__":
    main()
