"""Small datasets whose items show their own dataset id, shared by the data tests."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import torch
from torch.utils.data import DataLoader, Dataset


class IdentityDataset(Dataset):
    """Map-style dataset whose item ``i`` is ``(tensor([i + offset]), i)``.

    The target of every row is its dataset id, so a batch shows which items it holds.
    """

    def __init__(self, length: int, offset: float = 0.0) -> None:
        self.length = length
        self.offset = offset

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return torch.tensor([index + self.offset]), index


class ListDataset(Dataset):
    """Map-style dataset backed by a list that a test may grow or shrink."""

    def __init__(self, items: list) -> None:
        self.items = items

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int):
        return self.items[index]


@pytest.fixture
def make_identity_dataset() -> Callable[..., IdentityDataset]:
    """Factory of :class:`IdentityDataset`: ``make_identity_dataset(length, offset=0.0)``."""
    return IdentityDataset


@pytest.fixture
def make_list_dataset() -> Callable[[list], ListDataset]:
    """Factory of :class:`ListDataset` over a given list."""
    return ListDataset


@pytest.fixture
def loader_targets() -> Callable[[DataLoader], list[int]]:
    """Function that returns the sorted targets of all rows of an ``(inputs, target)`` loader."""

    def collect(loader: DataLoader) -> list[int]:
        targets: list[int] = []
        for _, target in loader:
            targets.extend(target.tolist())
        return sorted(targets)

    return collect
