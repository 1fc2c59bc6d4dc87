"""A dataset view whose items carry the labels that people gave, in place of the stored targets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

__all__ = ["NO_LABEL", "GivenLabelDataset", "replace_target"]

NO_LABEL = -1
"""Value of :attr:`ActiveDataModule.given_labels` for an item without a given label."""


class GivenLabelDataset(Dataset):
    """``dataset`` with the target of item ``i`` replaced by ``given_labels[i]`` where that is set.

    Items whose given label is :data:`NO_LABEL` are returned unchanged. See
    :func:`replace_target` for where the label goes in an item.

    Args:
        dataset: The map-style dataset, indexed by dataset id.
        given_labels: One class index per item, :data:`NO_LABEL` where none
            was given, shape ``(len(dataset),)``. The array is not copied.
        target_key: The data module's ``target_key``.
    """

    def __init__(self, dataset: Dataset, given_labels: np.ndarray, target_key: str | int | None) -> None:
        self.dataset = dataset
        self.given_labels = given_labels
        self.target_key = target_key

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> Any:
        item = self.dataset[index]
        label = int(self.given_labels[index])
        if label == NO_LABEL:
            return item
        return replace_target(item, label, self.target_key)


def replace_target(item: Any, label: int, target_key: str | int | None) -> Any:
    """Return ``item`` with its target replaced by ``label``.

    A mapping gets ``label`` under ``target_key``, or under ``"label"`` when
    ``target_key`` is ``None``. A tuple or list gets it at position
    ``target_key``, the last position by default. Any other item is a bare
    input and becomes ``(item, label)``. The label takes the type of the
    target it replaces (a tensor of the same dtype, a NumPy scalar or an
    ``int``), so the collated batch looks as it would in research mode.
    """
    if isinstance(item, Mapping):
        key = "label" if target_key is None else target_key
        replaced = dict(item)
        replaced[key] = _like(item.get(key), label)
        return replaced
    if isinstance(item, Sequence) and not isinstance(item, str) and len(item) >= 2:
        position = -1 if target_key is None else int(target_key)
        values = list(item)
        values[position] = _like(values[position], label)
        return tuple(values) if isinstance(item, tuple) else values
    return (item, label)


def _like(target: Any, label: int) -> Any:
    if isinstance(target, torch.Tensor):
        return torch.tensor(label, dtype=target.dtype).reshape(target.shape)
    if isinstance(target, np.generic):
        return target.dtype.type(label)
    if isinstance(target, np.ndarray):
        return np.asarray(label, dtype=target.dtype).reshape(target.shape)
    return label
