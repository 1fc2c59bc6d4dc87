"""The stream loop: score arriving items, ask for labels under a budget, and retrain as configured."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.utilities import move_data_to_device
from torch import Tensor

from energizer.acquisition import least_confidence
from energizer.errors import InvalidArgumentError, InvalidScoresError
from energizer.loop.interrupts import keyboard_interrupt_passed_on
from energizer.query_strategies.base import QueryStrategy
from energizer.stream._checks import check_positive_int
from energizer.stream._loop_checks import (
    check_labels,
    check_trainer_kwargs,
    check_types,
    iterate,
    optional_count,
    split_batch,
)
from energizer.stream.budget import BudgetManager
from energizer.stream.labelled import LabelledItems
from energizer.stream.oracle import SKIPPED
from energizer.stream.results import StreamResults, StreamRoundResult, StreamStopReason
from energizer.stream.strategies import StreamStrategy, decide_items

__all__ = ["StreamLoop", "run_stream"]

log = logging.getLogger(__name__)


class StreamLoop:
    """Stream-based active learning on a ``LightningModule``, with no change to the model.

    Items arrive in batches. For each batch the model, in eval mode and
    without gradients, computes logits, ``score_function`` turns them into
    one score per item, and the strategy decides item by item, under the
    budget manager, which labels to ask for. The oracle returns those labels,
    and the labelled items are kept (see :class:`~energizer.stream.labelled.LabelledItems`).

    The model is updated between batches: after ``update_every_labels`` new
    labels, or after ``update_every_items`` items with at least one new label,
    whichever comes first. A batch can therefore carry the count past the
    setting. Each update builds a fresh ``lightning.pytorch.Trainer`` from
    ``trainer_kwargs``, because a Trainer that has fitted once trains no more
    epochs, and fits on every labelled item, starting from the initial
    weights unless ``reinit_model=False``. Then it tests the model on
    ``test_dataloader`` when one is given. Callbacks are copied afresh for
    each update. The loggers of the first update's Trainer serve every
    update and receive each update's values under ``stream/`` at step
    ``num_labelled``. When the stream ends with labels that no update has
    used, a last update trains on them.

    Batches are ``(ids, batch)`` pairs, such as the
    :class:`~energizer.data.pool.PoolBatch` es that
    :func:`~energizer.stream.stream_loader` yields. ``ids`` contains the dataset
    id of each row, as a 1-D integer tensor, array or list. An item whose id
    is already labelled is skipped: neither the strategy nor the budget
    manager sees it again. The model inputs come from the batch as
    ``QueryStrategy.get_inputs_from_batch`` extracts them with ``target_key``.
    For other layouts, or for scores that need more than one forward pass,
    subclass this loop and override :meth:`score_batch`.

    Args:
        model: The ``LightningModule`` to train. Its ``forward`` returns logits
            of shape ``(B, C)``.
        strategy: Decides which items to label.
        budget: Paces the labels.
        oracle: Called with the dataset ids queried in a batch, an int64 array
            of shape ``(k,)``, in stream order. Returns their ``k`` labels,
            with :data:`~energizer.stream.SKIPPED` for an item people
            skipped, which stays unlabelled.
            :class:`~energizer.stream.DatasetOracle` reads them from a
            labelled dataset (research mode), and
            :class:`~energizer.stream.AnnotatorOracle` asks people through an
            :class:`~energizer.annotators.Annotator`.
        score_function: Maps logits ``(B, C)`` to scores ``(B,)``, higher is
            more informative; any single-pass :mod:`energizer.acquisition`
            function. Least confidence by default.
        update_every_labels: Update after this many new labels.
        update_every_items: Update after this many items, if any was labelled.
        trainer_kwargs: Arguments of every update's Trainer. Lightning's
            defaults apply to the rest, so each update writes a checkpoint
            unless ``enable_checkpointing=False``.
        train_batch_size: Batch size of the loader over the labelled items.
        train_collate_fn: Collate function of that loader; PyTorch's
            ``default_collate`` by default.
        test_dataloader: Batches to test each model on, or ``None``.
        target_key: Where the stream's batches hold the target, as for
            ``ActiveDataModule``; ``None`` for ``(inputs, target)`` batches.
        reinit_model: Restore the model's weights from before the run at the
            start of every update. ``False`` continues from the last update.

    Raises:
        InvalidArgumentError: On a wrong type, no update setting, or a count
            that is not a positive integer.
    """

    def __init__(
        self,
        model: pl.LightningModule,
        strategy: StreamStrategy,
        budget: BudgetManager,
        oracle: Callable[[np.ndarray], Any],
        *,
        score_function: Callable[[Tensor], Tensor] = least_confidence,
        update_every_labels: int | None = None,
        update_every_items: int | None = None,
        trainer_kwargs: Mapping[str, Any] | None = None,
        train_batch_size: int = 32,
        train_collate_fn: Callable[[list[Any]], Any] | None = None,
        test_dataloader: Iterable[Any] | None = None,
        target_key: str | int | None = None,
        reinit_model: bool = True,
    ) -> None:
        check_types(model, strategy, budget, oracle, score_function)
        if update_every_labels is None and update_every_items is None:
            raise InvalidArgumentError(
                "update_every_labels",
                "update_every_labels or update_every_items, or both",
                "neither",
                "Pass e.g. update_every_labels=20 to retrain after every 20 labels.",
            )
        self.model = model
        self.strategy = strategy
        self.budget = budget
        self.oracle = oracle
        self.score_function = score_function
        self.update_every_labels = optional_count("update_every_labels", update_every_labels)
        self.update_every_items = optional_count("update_every_items", update_every_items)
        self.trainer_kwargs = check_trainer_kwargs(trainer_kwargs)
        self.train_batch_size = check_positive_int("train_batch_size", train_batch_size)
        self.train_collate_fn = train_collate_fn
        self.test_dataloader = test_dataloader
        self.target_key = target_key
        self.reinit_model = bool(reinit_model)
        self.labelled = LabelledItems(target_key)
        # Composition: the pool strategies' input extraction and logits checks, applied to the stream.
        self._inputs = QueryStrategy(model, seed=0)
        self._inputs.configure_pool(target_key=target_key, round_index=0)
        self._loggers: list[Any] | None = None

    def run(
        self,
        stream: Iterable[Any],
        *,
        max_items: int | None = None,
        on_round_end: Callable[[StreamRoundResult], None] | None = None,
    ) -> StreamResults:
        """Run the stream to its end, or until ``max_items`` items are seen.

        Args:
            stream: Any iterable of ``(ids, batch)`` pairs, such as a
                ``DataLoader`` from :func:`~energizer.stream.stream_loader`.
                It is iterated once.
            max_items: Stop after this run has decided on this many items.
                ``None`` for no limit.
            on_round_end: Called with each round's record as soon as it is complete.

        Returns:
            One record per model, starting with the initial model in round 0,
            and the reason the run stopped.

        Raises:
            InvalidArgumentError: Before any work, when ``stream`` is not
                iterable or ``max_items`` is not a positive integer. During the
                run, on a batch that is not an ``(ids, batch)`` pair, or when
                the oracle returns the wrong number of labels.
            InvalidScoresError: The model or ``score_function`` returned values
                of the wrong shape.
        """
        max_items = optional_count("max_items", max_items)
        batches = iterate(stream)
        initial_weights = copy.deepcopy(self.model.state_dict()) if self.reinit_model else None
        results = StreamResults(strategy=type(self.strategy).__name__)
        current = _Round(index=0, num_seen=self.budget.num_seen, num_labelled=len(self.labelled))
        current.metrics, current.test_seconds = self._test(self._new_trainer(0))
        items_since_update = labels_since_update = 0
        seen_before = self.budget.num_seen
        stop = StreamStopReason.STREAM_END

        for batch in batches:
            ids, data = split_batch(batch)
            limit = None if max_items is None else max_items - (self.budget.num_seen - seen_before)
            decided, queried = self._process_batch(ids, data, current, limit)
            items_since_update += decided
            labels_since_update += queried
            if self._update_due(items_since_update, labels_since_update):
                self._finish(current, results, on_round_end)
                current = self._update(current.index + 1, initial_weights)
                items_since_update = labels_since_update = 0
            elif labels_since_update == 0 and self._items_due(items_since_update):
                items_since_update = 0
            if max_items is not None and self.budget.num_seen - seen_before >= max_items:
                stop = StreamStopReason.MAX_ITEMS
                break

        if labels_since_update > 0:
            self._finish(current, results, on_round_end)
            current = self._update(current.index + 1, initial_weights)
        self._finish(current, results, on_round_end)
        results.num_seen = self.budget.num_seen
        results.num_labelled = self.budget.num_labelled
        results.stop_reason = stop
        results.stop_message = _stop_message(stop, self.budget, max_items)
        log.info(results.stop_message)
        return results

    def score_batch(self, batch: Any) -> Tensor:
        """Return one score per item of ``batch`` (the batch without its ids), shape ``(B,)``.

        Runs with the model in eval mode and without gradients. Extracts the
        inputs with ``QueryStrategy.get_inputs_from_batch``, moves them to the
        model's device, checks the logits and applies :attr:`score_function`.
        """
        inputs = self._inputs.get_inputs_from_batch(batch)
        inputs = move_data_to_device(inputs, _device_of(self.model))
        logits = self._inputs.compute_logits(inputs)
        return self.score_function(logits)

    # ---------------------------------------------------------------- phases

    def _process_batch(
        self, ids: np.ndarray, data: Any, current: _Round, limit: int | None
    ) -> tuple[int, int]:
        """Decide on the batch's new items, label the queried ones, and return both counts."""
        batch_size = ids.size
        started = time.perf_counter()
        fresh = ~self.labelled.contains(ids) & _first_occurrences(ids)
        if limit is not None:
            fresh &= np.arange(batch_size) < limit
        positions = np.flatnonzero(fresh)
        if positions.size == 0:
            return 0, 0
        scores = None
        if self.strategy.needs_scores:
            scores = self._scores(data, batch_size)[positions]
        decisions = decide_items(self.strategy, self.budget, scores, num_items=positions.size)
        current.query_seconds += time.perf_counter() - started

        queried_positions = positions[decisions]
        if queried_positions.size == 0:
            return int(positions.size), 0
        queried_ids = ids[queried_positions]
        labels = check_labels(self.oracle(queried_ids.copy()), queried_ids.size)
        # Items that people skipped come back as SKIPPED: asked for, so counted, but not labelled.
        answered = np.asarray(labels != SKIPPED)
        self.labelled.add(queried_ids[answered], data, queried_positions[answered], labels[answered], batch_size)
        current.queried_ids.extend(int(i) for i in queried_ids[answered])
        return int(positions.size), int(answered.sum())

    def _scores(self, data: Any, batch_size: int) -> np.ndarray:
        was_training = self.model.training
        self.model.eval()
        try:
            with torch.no_grad():
                scores = self.score_batch(data)
        finally:
            self.model.train(was_training)
        if not isinstance(scores, Tensor) or scores.shape != (batch_size,):
            received = tuple(scores.shape) if isinstance(scores, Tensor) else type(scores).__name__
            raise InvalidScoresError(
                f"{type(self).__name__}.score_batch returned {received} for a stream batch of {batch_size} "
                f"items; expected a tensor of shape ({batch_size},), one score per item."
            )
        return scores.detach().to(torch.float64).cpu().numpy()

    def _update_due(self, items: int, labels: int) -> bool:
        if labels == 0:
            return False
        by_labels = self.update_every_labels is not None and labels >= self.update_every_labels
        return by_labels or self._items_due(items)

    def _items_due(self, items: int) -> bool:
        return self.update_every_items is not None and items >= self.update_every_items

    def _update(self, index: int, initial_weights: dict[str, Tensor] | None) -> _Round:
        """Train a model on every labelled item, test it, and open its round."""
        if initial_weights is not None:
            self.model.load_state_dict(initial_weights)
        trainer = self._new_trainer(index)
        loader = self.labelled.dataloader(self.train_batch_size, self.train_collate_fn)
        started = time.perf_counter()
        with keyboard_interrupt_passed_on(trainer):
            trainer.fit(self.model, train_dataloaders=loader)
        fit_seconds = time.perf_counter() - started
        current = _Round(
            index=index, num_seen=self.budget.num_seen, num_labelled=len(self.labelled)
        )
        current.fit_seconds = fit_seconds
        current.metrics, current.test_seconds = self._test(trainer)
        return current

    def _new_trainer(self, index: int) -> pl.Trainer:
        kwargs = dict(self.trainer_kwargs)
        kwargs["callbacks"] = [
            copy.deepcopy(callback) for callback in self.trainer_kwargs.get("callbacks", [])
        ]
        if self._loggers is not None:
            kwargs["logger"] = list(self._loggers) if self._loggers else False
        if index > 1:
            # Round 0 only tests, so the first fit, in round 1, prints the summary.
            kwargs["enable_model_summary"] = False
        trainer = pl.Trainer(**kwargs)
        if self._loggers is None:
            self._loggers = list(trainer.loggers)
        return trainer

    def _test(self, trainer: pl.Trainer) -> tuple[dict[str, float], float]:
        if self.test_dataloader is None:
            return {}, 0.0
        started = time.perf_counter()
        with keyboard_interrupt_passed_on(trainer):
            outputs = trainer.test(self.model, dataloaders=self.test_dataloader, verbose=False)
        metrics: dict[str, float] = {}
        for output in outputs:
            metrics.update({name: float(value) for name, value in output.items()})
        return metrics, time.perf_counter() - started

    def _finish(
        self,
        current: _Round,
        results: StreamResults,
        on_round_end: Callable[[StreamRoundResult], None] | None,
    ) -> None:
        record = current.to_record()
        results.rounds.append(record)
        self._log_round(record)
        if on_round_end is not None:
            on_round_end(record)

    def _log_round(self, record: StreamRoundResult) -> None:
        values = {
            "round": record.round,
            "num_seen": record.num_seen,
            "num_labelled": record.num_labelled,
            **record.metrics,
            "fit_seconds": record.fit_seconds,
            "query_seconds": record.query_seconds,
        }
        for logger in self._loggers or []:
            prefixed = {f"stream/{name}": float(value) for name, value in values.items()}
            logger.log_metrics(prefixed, step=record.num_labelled)
            logger.save()
        log.info(
            "Stream round %d: %d seen, %d labelled, %s",
            record.round,
            record.num_seen,
            record.num_labelled,
            ", ".join(f"{name}={value:.4g}" for name, value in record.metrics.items())
            or "no test set",
        )


def run_stream(
    model: pl.LightningModule,
    stream: Iterable[Any],
    oracle: Callable[[np.ndarray], Any],
    strategy: StreamStrategy,
    budget: BudgetManager,
    *,
    max_items: int | None = None,
    on_round_end: Callable[[StreamRoundResult], None] | None = None,
    **loop_kwargs: Any,
) -> StreamResults:
    """Build a :class:`StreamLoop` from ``loop_kwargs`` and the named arguments, and run it on ``stream``."""
    loop = StreamLoop(model, strategy, budget, oracle, **loop_kwargs)
    return loop.run(stream, max_items=max_items, on_round_end=on_round_end)


class _Round:
    """The record of the current model, filled in while it scores the stream."""

    def __init__(self, index: int, num_seen: int, num_labelled: int) -> None:
        self.index = index
        self.num_seen = num_seen
        self.num_labelled = num_labelled
        self.metrics: dict[str, float] = {}
        self.fit_seconds = 0.0
        self.test_seconds = 0.0
        self.query_seconds = 0.0
        self.queried_ids: list[int] = []

    def to_record(self) -> StreamRoundResult:
        return StreamRoundResult(
            round=self.index,
            num_labelled=self.num_labelled,
            num_train=self.num_labelled,
            num_val=0,
            metrics=self.metrics,
            fit_seconds=self.fit_seconds,
            test_seconds=self.test_seconds,
            query_seconds=self.query_seconds,
            queried_ids=np.asarray(self.queried_ids, dtype=np.int64),
            num_seen=self.num_seen,
        )


def _first_occurrences(ids: np.ndarray) -> np.ndarray:
    mask = np.zeros(ids.size, dtype=bool)
    mask[np.unique(ids, return_index=True)[1]] = True
    return mask


def _device_of(model: torch.nn.Module) -> torch.device:
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


def _stop_message(stop: StreamStopReason, budget: BudgetManager, max_items: int | None) -> str:
    counts = (
        f"{budget.num_labelled} of {budget.num_seen} items labelled "
        f"({budget.labelled_fraction:.2%}, budget {budget.budget:.2%})"
    )
    if stop is StreamStopReason.MAX_ITEMS:
        return f"Stopped after max_items={max_items} items: {counts}."
    return f"The stream ended: {counts}."
