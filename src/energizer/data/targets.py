"""Reading class targets from a dataset, for stratified initial labels."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, TensorDataset

from energizer.errors import InvalidArgumentError

__all__ = ["check_targets", "read_targets", "target_of_item"]


def target_of_item(item: Any, target_key: str | int | None) -> Any:
    """Return the target of one dataset item.

    Items are ``(inputs, target)`` sequences, where the target is the last
    element, or mappings that hold the target under ``target_key``.

    Raises:
        InvalidArgumentError: When the item has neither layout.
    """
    if isinstance(item, Mapping):
        if target_key is None or target_key not in item:
            raise InvalidArgumentError(
                "target_key",
                f"a key of the dataset's items {sorted(map(str, item))}",
                target_key,
                "Pass the data module the key under which each item stores its class "
                "(target_key=...), or pass the targets directly (targets=...).",
            )
        return item[target_key]
    if isinstance(item, Sequence) and not isinstance(item, str) and len(item) >= 2:
        index = -1 if target_key is None else target_key
        return item[index]
    raise InvalidArgumentError(
        "targets",
        "dataset items of the form (inputs, target) or a mapping with a target key",
        f"an item of type {type(item).__name__}",
        "Pass the class of every item as targets=... to the data module.",
    )


def read_targets(dataset: Dataset, target_key: str | int | None = None) -> np.ndarray:
    """Return the class target of every item of ``dataset`` as an int64 array.

    Uses, in order: a ``targets`` attribute (as torchvision datasets have), the
    last tensor of a ``TensorDataset``, and otherwise reads every item.
    """
    targets: Any
    if hasattr(dataset, "targets"):
        targets = dataset.targets
    elif isinstance(dataset, TensorDataset) and target_key is None:
        targets = dataset.tensors[-1]
    else:
        targets = [_to_scalar(target_of_item(dataset[i], target_key)) for i in range(len(dataset))]
    return check_targets(targets, len(dataset))


def check_targets(targets: Any, num_items: int) -> np.ndarray:
    """Return ``targets`` as an int64 array of shape ``(num_items,)``.

    Raises:
        InvalidArgumentError: When the shape differs or the values are not integers.
    """
    if isinstance(targets, torch.Tensor):
        targets = targets.detach().cpu().numpy()
    array = np.asarray(targets)
    if array.ndim != 1 or array.shape[0] != num_items:
        raise InvalidArgumentError(
            "targets",
            f"one class per item, shape ({num_items},)",
            f"an array of shape {array.shape}",
            "Pass targets=... with one integer class per dataset item.",
        )
    if not np.issubdtype(array.dtype, np.integer):
        raise InvalidArgumentError(
            "targets",
            "integer class indices",
            f"an array of dtype {array.dtype}",
            "Stratified initial labels need integer classes: pass targets=... as integers.",
        )
    return array.astype(np.int64)


def _to_scalar(target: Any) -> Any:
    if isinstance(target, torch.Tensor):
        return target.item()
    return target
