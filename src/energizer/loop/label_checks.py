"""Checks that run the model on a few items before the first fit: batch layout, logits and labels.

Without them, a label outside ``0..C-1`` fails inside the model's loss
(``cross_entropy`` raises ``IndexError``) once Lightning has started the
fit. A batch layout that the model cannot take fails only when the pool is
scored, after a whole round of training. Labels from people are checked
against the same ``C``: the annotator's class count before any training,
and each collected label before it is saved.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from numbers import Integral
from typing import Any

import numpy as np
import torch
from lightning.pytorch.utilities import move_data_to_device
from torch import Tensor, nn
from torch.utils.data import Dataset, TensorDataset

from energizer.annotators.base import Annotator
from energizer.data.datamodule import ActiveDataModule
from energizer.data.given_labels import NO_LABEL
from energizer.data.pool import CollateWithIds, PoolBatch
from energizer.data.targets import target_of_item
from energizer.errors import InvalidArgumentError
from energizer.query_strategies.base import ModelOutput, PredictPass, QueryStrategy

__all__ = [
    "check_annotator_classes",
    "check_class_indices",
    "check_data_fits_model",
    "check_labels_in_range",
    "count_classes",
]

log = logging.getLogger(__name__)

# Items in the batch that the model runs on. A few show the layout and the shape of the
# logits, and before the first fit the model may still be on the CPU.
_PROBE_ITEMS = 4

# Most offending dataset ids that one error message lists.
_MAX_IDS_SHOWN = 10


def check_data_fits_model(
    strategy: QueryStrategy, datamodule: ActiveDataModule, *, given_labels_fix: str | None = None
) -> int | None:
    """Run the model on a few items and check every labelled item's label, before any training.

    Combines :func:`count_classes` and :func:`check_labels_in_range` over
    all labelled items, validation hold-out included. An item with a label
    given through ``ActiveDataModule.label(..., labels=...)`` is checked by
    that label, because it replaces the dataset's target in training. The
    check reads each other labelled item of ``train_dataset`` once, or one
    tensor of a ``TensorDataset``.

    Args:
        strategy: The query strategy wrapping the model.
        datamodule: The data module with the labelled items.
        given_labels_fix: The last sentence of the error on a given label
            outside ``0..C-1``: what to do. ``None`` names ``ActiveDataModule.label``.

    Returns:
        The number of classes ``C`` that the model returns logits for, or
        ``None`` when it could not be learnt (see :func:`count_classes`).

    Raises:
        InvalidArgumentError: When the batch layout does not fit the model
            (see :func:`count_classes`), or a label is outside ``0..C-1``.
        InvalidScoresError: When a strategy that scores logits gets outputs
            that are not ``(B, C)`` logits, or NaN or ``+inf`` ones.
    """
    num_classes = count_classes(strategy, datamodule)
    if num_classes is None:
        return None
    labelled_ids = datamodule.labelled_ids
    given = datamodule.given_labels[labelled_ids]
    has_given = given != NO_LABEL
    if given_labels_fix is None:
        given_labels_fix = (
            f"Pass class indices from 0 to {num_classes - 1} to ActiveDataModule.label, or build "
            "the model with one output per class."
        )
    check_class_indices(
        labelled_ids[has_given], given[has_given], num_classes, argument="given_labels", fix=given_labels_fix
    )
    check_labels_in_range(datamodule, labelled_ids[~has_given], num_classes)
    return num_classes


def check_annotator_classes(annotator: Annotator, num_classes: int | None) -> None:
    """Raise when the annotator's number of classes differs from the model's number of outputs.

    Nothing is checked while either number is unknown (``None``).

    Raises:
        InvalidArgumentError: When ``annotator.num_classes`` is not ``num_classes``.
    """
    if num_classes is None or annotator.num_classes is None or annotator.num_classes == num_classes:
        return
    raise InvalidArgumentError(
        "annotator",
        f"an annotator with {num_classes} classes, because the model returns {num_classes} logits per item",
        f"{annotator!r} with {annotator.num_classes} classes",
        f"Give the annotator one class name per model output ({num_classes} names, in the order of "
        f"the model's outputs), or build the model with {annotator.num_classes} outputs.",
    )


def check_class_indices(
    ids: np.ndarray, labels: np.ndarray, num_classes: int, *, argument: str, fix: str
) -> None:
    """Raise when a label in ``labels`` is outside ``0..num_classes - 1``.

    Args:
        ids: Dataset ids, shape ``(n,)``.
        labels: The class index of each id, shape ``(n,)``.
        num_classes: Number of classes ``C`` that the model outputs.
        argument: The name that the error gives the labels.
        fix: The last sentence of the error: what the user should do.

    Raises:
        InvalidArgumentError: Naming up to ten offending dataset ids with
            their labels, and how many there are.
    """
    ids = np.asarray(ids, dtype=np.int64)
    labels = np.asarray(labels, dtype=np.int64)
    outside = (labels < 0) | (labels >= num_classes)
    if not outside.any():
        return
    bad_ids, bad_labels = ids[outside], labels[outside]
    listed = ", ".join(
        f"label {label} at dataset id {dataset_id}"
        for dataset_id, label in zip(bad_ids[:_MAX_IDS_SHOWN].tolist(), bad_labels[:_MAX_IDS_SHOWN].tolist())
    )
    if bad_ids.size > _MAX_IDS_SHOWN:
        listed += f" and {bad_ids.size - _MAX_IDS_SHOWN} more"
    raise InvalidArgumentError(
        argument,
        f"class indices from 0 to {num_classes - 1}, because the model returns {num_classes} logits per item",
        f"{bad_ids.size} of {ids.size} labels outside that range: {listed}",
        fix,
    )


def count_classes(strategy: QueryStrategy, datamodule: ActiveDataModule) -> int | None:
    """Run the model on a batch of up to four items and return its number of classes ``C``.

    The batch is built like a pool batch: from ``pool_dataset``, through the
    data module's collate function, and into the strategy's
    ``get_inputs_from_batch`` with the data module's ``target_key``. It
    contains the first labelled items, or the first pool items when none is
    labelled. The model runs in eval mode without gradients, every
    module's mode is restored afterwards, and PyTorch's CPU random state is
    left as it was.

    How strict the check is depends on what the strategy needs. A strategy
    that scores logits (``ModelOutput.LOGITS`` or ``MC_LOGITS``) raises on
    everything below. An embedding strategy raises only on errors of
    ``get_inputs_from_batch``, such as a ``target_key`` that does not fit
    the batch, because it may take its embeddings without the logits. A
    strategy that never runs the model over the pool, such as random
    sampling, raises on nothing.

    Returns:
        ``C``, or ``None`` when the data module has no item, or when the
        model of a strategy that does not score logits raised or returned
        something other than ``(B, C)`` logits.

    Raises:
        InvalidArgumentError: When ``target_key`` names no key or position
            of the batch, or when the model's ``forward`` takes no argument
            for a key that the batch still contains. Also when the model
            raises ``TypeError`` on inputs that are not one tensor (see
            ``QueryStrategy.compute_logits``).
        InvalidScoresError: When a strategy that scores logits gets outputs
            that are not ``(B, C)`` logits, or NaN or ``+inf`` ones.
    """
    labelled = datamodule.num_labelled > 0
    ids = datamodule.labelled_ids if labelled else datamodule.pool_ids
    ids = ids[:_PROBE_ITEMS]
    if ids.size == 0:
        return None
    batch = _collate(datamodule, ids)
    scores_logits = bool(strategy.requires & {ModelOutput.LOGITS, ModelOutput.MC_LOGITS})
    predict_pass = PredictPass.LABELLED if labelled else PredictPass.POOL
    model = strategy.model
    with (
        _configured(strategy, datamodule.target_key, predict_pass),
        strategy.scoring_batch(batch.ids),
        _eval_mode(model),
        torch.random.fork_rng(devices=[]),
        torch.no_grad(),
    ):
        # A lenient strategy may wrap a model that takes other inputs or returns no logits,
        # so any error there only means that C stays unknown.
        try:
            inputs = strategy.get_inputs_from_batch(batch.batch)
        except Exception as error:
            if strategy.needs_pool_pass:
                raise
            return _unknown_classes("get_inputs_from_batch", error)
        inputs = move_data_to_device(inputs, _device_of(model))
        try:
            logits = strategy.compute_logits(inputs)
        except Exception as error:
            if scores_logits:
                raise
            return _unknown_classes("compute_logits", error)
    return int(logits.shape[1])


def check_labels_in_range(
    datamodule: ActiveDataModule, ids: Sequence[int] | np.ndarray, num_classes: int
) -> None:
    """Raise when an item of ``ids`` has a label outside ``0..num_classes - 1``.

    Labels are read from ``train_dataset``: the last tensor of a
    ``TensorDataset`` (or the one at an integer ``target_key``), otherwise
    each item's target as ``ActiveDataModule`` reads it for stratified
    sampling. The check is skipped when a target cannot be read, or when
    the targets are not one integer per item, as with float regression
    targets or multi-label vectors.

    Args:
        datamodule: The data module whose ``train_dataset`` contains the labels.
        ids: Dataset ids of the items to check, for example the newly
            labelled ones.
        num_classes: Number of classes ``C`` that the model outputs.

    Raises:
        InvalidArgumentError: When a label is negative or at least
            ``num_classes``. The message names the first such dataset id
            and its label.
    """
    ids = np.asarray(ids, dtype=np.int64)
    labels = _read_labels(datamodule.train_dataset, ids, datamodule.target_key)
    if labels is None:
        return
    outside = (labels < 0) | (labels >= num_classes)
    if not outside.any():
        return
    bad_ids = ids[outside]
    first = int(np.flatnonzero(outside)[0])
    received = f"label {int(labels[first])} at dataset id {int(ids[first])}"
    if bad_ids.size > 1:
        listed_ids = bad_ids[:_MAX_IDS_SHOWN].tolist()
        received += (
            f" ({bad_ids.size} of {ids.size} items have labels outside that range, "
            f"ids {listed_ids})"
        )
    raise InvalidArgumentError(
        "train_dataset",
        f"class labels from 0 to {num_classes - 1}, because the model returns {num_classes} "
        "logits per item",
        received,
        f"Map the labels to class indices 0 to {num_classes - 1}, or build the model with one "
        "output per class.",
    )


# ---------------------------------------------------------------- helpers


def _unknown_classes(hook: str, error: Exception) -> None:
    log.debug("Skipped the label range check: %s raised %r.", hook, error)
    return None


def _collate(datamodule: ActiveDataModule, ids: np.ndarray) -> PoolBatch:
    collate = datamodule.pool_collate_fn or CollateWithIds(datamodule.collate_fn)
    return collate(
        [(int(dataset_id), datamodule.pool_dataset[int(dataset_id)]) for dataset_id in ids]
    )


def _read_labels(
    dataset: Dataset, ids: np.ndarray, target_key: str | int | None
) -> np.ndarray | None:
    """Return the integer label of each item of ``ids``, or ``None`` unless each has one."""
    if isinstance(dataset, TensorDataset) and (target_key is None or isinstance(target_key, int)):
        try:
            column = dataset.tensors[-1 if target_key is None else target_key]
        except IndexError:
            return None
        if column.ndim != 1 or column.dtype.is_floating_point or column.dtype == torch.bool:
            return None
        return column[torch.as_tensor(ids)].cpu().numpy().astype(np.int64)
    labels = []
    for dataset_id in ids:
        try:
            target = target_of_item(dataset[int(dataset_id)], target_key)
        except (InvalidArgumentError, IndexError, KeyError, TypeError):
            return None
        label = _as_class_index(target)
        if label is None:
            return None
        labels.append(label)
    return np.asarray(labels, dtype=np.int64)


def _as_class_index(target: Any) -> int | None:
    if isinstance(target, (Tensor, np.ndarray)):
        count = target.numel() if isinstance(target, Tensor) else target.size
        if count != 1:
            return None
        target = target.item()
    if isinstance(target, (bool, np.bool_)) or not isinstance(target, Integral):
        return None
    return int(target)


def _device_of(model: nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@contextmanager
def _configured(
    strategy: QueryStrategy, target_key: str | int | None, predict_pass: PredictPass
) -> Iterator[None]:
    # Sets only what get_inputs_from_batch and the error messages read, and restores it.
    saved = strategy.target_key, strategy.predict_pass
    strategy.target_key, strategy.predict_pass = target_key, predict_pass
    try:
        yield
    finally:
        strategy.target_key, strategy.predict_pass = saved


@contextmanager
def _eval_mode(model: nn.Module) -> Iterator[None]:
    modes = [(module, module.training) for module in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for module, training in modes:
            module.training = training
