"""Data handling: the active data module and the id-carrying pool loader."""

from energizer.data.datamodule import UNLABELLED, ActiveDataModule
from energizer.data.pool import CollateWithIds, IndexedSubset, PoolBatch, ShardSampler

__all__ = ["ActiveDataModule", "CollateWithIds", "IndexedSubset", "PoolBatch", "ShardSampler", "UNLABELLED"]
