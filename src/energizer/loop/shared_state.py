"""One labelled state on every process of a distributed run.

Every process of a DDP run builds its own data module. Initial labels drawn
without a seed, or labels given on one process only, would make the
processes train and score on different items. Process 0's state is the one
that counts: it is shared with the others before each round's fit.
"""

from __future__ import annotations

import hashlib

import lightning.pytorch as pl
from torch.utils.data import DataLoader

from energizer.data.datamodule import ActiveDataModule
from energizer.errors import LabellingError
from energizer.loop.ranks import Ranks

__all__ = [
    "RoundData",
    "RoundDataWithValidation",
    "round_data",
    "share_labelled_state",
    "check_labelled_state_shared",
]


class RoundData(pl.LightningDataModule):
    """The loaders of one round's fit, built after process 0's labelled state is shared.

    Lightning calls :meth:`setup` once the processes are connected and only
    then requests the loaders, so every process trains on process 0's
    labelled items, even in the first round of a run whose processes drew
    their initial labels without a seed.
    """

    def __init__(self, datamodule: ActiveDataModule) -> None:
        super().__init__()
        self.datamodule = datamodule

    def setup(self, stage: str) -> None:
        share_labelled_state(self.datamodule, Ranks(self.trainer))

    def train_dataloader(self) -> DataLoader:
        return self.datamodule.train_dataloader()


class RoundDataWithValidation(RoundData):
    """:class:`RoundData` with the data module's validation loader."""

    def val_dataloader(self) -> DataLoader:
        return self.datamodule.val_dataloader()


def round_data(datamodule: ActiveDataModule) -> RoundData:
    """Return the fit data of a round, with a validation loader only when there are validation items.

    Lightning runs a validation loop only for a data module that defines a
    validation loader, so one without items defines none.
    """
    return RoundDataWithValidation(datamodule) if datamodule.has_validation else RoundData(datamodule)


def share_labelled_state(datamodule: ActiveDataModule, ranks: Ranks) -> None:
    """Load process 0's labelled state (labels, rounds, validation hold-out) on every process."""
    if not ranks.connected:
        return
    state = ranks.broadcast(datamodule.state_dict())
    if ranks.rank != 0:
        datamodule.load_state_dict(state)


def check_labelled_state_shared(datamodule: ActiveDataModule, ranks: Ranks) -> None:
    """Raise :class:`LabellingError` on every process when the processes hold different labelled items."""
    if ranks.world_size == 1:
        return
    fingerprint = hashlib.sha256(datamodule.label_rounds.tobytes()).hexdigest()
    if not ranks.all_true(ranks.broadcast(fingerprint) == fingerprint):
        raise LabellingError(
            "The processes of this distributed run hold different labelled items, so their "
            "pool shares do not fit together. Give ActiveDataModule a seed so that every process "
            "draws the same initial labels, label the same ids on every process, or call "
            "Trainer.active_fit, which shares process 0's labels before it trains."
        )
