"""energizer: pool-based active learning for any PyTorch Lightning module."""

from energizer.data.datamodule import ActiveDataModule
from energizer.results import ActiveFitResults, RoundResult, StopReason
from energizer.trainer import Trainer

__all__ = ["ActiveDataModule", "ActiveFitResults", "RoundResult", "StopReason", "Trainer"]
__version__ = "0.1.0"
