"""``energizer.Trainer``: a Lightning ``Trainer`` that runs active learning rounds."""

from __future__ import annotations

import copy
import logging
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import lightning.pytorch as pl
import numpy as np

from energizer.annotators.base import Annotator
from energizer.data.datamodule import UNLABELLED, ActiveDataModule
from energizer.errors import EmptyPoolError, InvalidArgumentError, InvalidScoresError
from energizer.loop.checks import (
    check_annotator,
    check_count,
    check_launch,
    check_predict_limit,
    check_processes_joined,
    check_optional_count,
    check_queried_ids,
    check_query_fits_pool,
    check_start,
    check_strategy_and_data,
)
from energizer.loop.criteria import label_budget, run_criteria
from energizer.loop.interrupts import keyboard_interrupt_passed_on
from energizer.loop.label_checks import check_annotator_classes, check_class_indices, check_data_fits_model
from energizer.loop.ranks import Ranks
from energizer.loop.run_config import config_differences, run_config, seed_differences
from energizer.loop.run_dir import RunDirectory, check_run_options
from energizer.loop.shared_state import check_labelled_state_shared, round_data
from energizer.query_strategies.base import PredictPass, QueryStrategy
from energizer.results import ActiveFitResults, RoundResult, StopReason
from energizer.seeding import derive_seed, draw_seed
from energizer.stopping import RoundEvidence, Stop, StoppingCriterion
from energizer.stopping.stop_set import StopSetPredictor, draw_stop_set

__all__ = ["Trainer"]

log = logging.getLogger(__name__)


class Trainer(pl.Trainer):
    """A ``lightning.pytorch.Trainer`` with :meth:`active_fit` and :meth:`query`.

    It takes the same arguments as Lightning's ``Trainer`` and behaves like it
    for ``fit``, ``validate``, ``test`` and ``predict``. :meth:`active_fit`
    runs each round on a fresh Lightning ``Trainer`` built from the same
    arguments, because a ``Trainer`` that has fitted once trains no more
    epochs. Each round therefore gets its own epoch and step limits, a new
    optimizer and scheduler from ``configure_optimizers``, and fresh copies
    of the callbacks (``EarlyStopping`` and ``ModelCheckpoint`` judge each
    round on its own). The loggers are shared by all rounds.

    Ctrl-C during :meth:`active_fit` or :meth:`query` raises
    ``KeyboardInterrupt`` in the caller, with the SIGINT handler from before
    restored, where Lightning's own ``fit``, ``test`` and ``predict`` exit
    the program with status 1.

    Attributes:
        round_trainer: The Lightning ``Trainer`` of the latest round, for
            example to read ``round_trainer.checkpoint_callback.best_model_path``.
    """

    def __init__(self, **kwargs: Any) -> None:
        callbacks = kwargs.get("callbacks") or []
        if not isinstance(callbacks, list):
            callbacks = [callbacks]
        self.callback_templates = [_copy_callback(callback) for callback in callbacks]
        self.round_trainer_kwargs = {
            name: value for name, value in kwargs.items() if name not in ("callbacks", "logger")
        }
        super().__init__(**kwargs)
        self.round_trainer: pl.Trainer | None = None

    def new_round_trainer(self, round_index: int) -> pl.Trainer:
        """Build the Lightning ``Trainer`` of one round: same arguments, fresh callbacks, shared loggers.

        The model summary is printed in round 0 only.
        """
        kwargs = dict(self.round_trainer_kwargs)
        kwargs["callbacks"] = [copy.deepcopy(callback) for callback in self.callback_templates]
        kwargs["logger"] = list(self.loggers) if self.loggers else False
        if round_index > 0:
            kwargs["enable_model_summary"] = False
        return pl.Trainer(**kwargs)

    def active_fit(
        self,
        strategy: QueryStrategy,
        datamodule: ActiveDataModule,
        *,
        query_size: int,
        max_rounds: int | None = None,
        max_budget: int | None = None,
        reinit_model: bool = True,
        on_round_end: Callable[[RoundResult], None] | None = None,
        run_dir: str | os.PathLike[str] | None = None,
        resume: bool = False,
        seed: int | None = None,
        stopping: Sequence[StoppingCriterion] = (),
        annotator: Annotator | None = None,
        annotation_timeout: float | None = None,
    ) -> ActiveFitResults:
        """Run active learning rounds until a stop condition holds.

        A round fits ``strategy.model`` on the labelled items, tests it when
        the data module has a test set, and then, unless the run stops,
        scores the pool with ``strategy``, queries ``query_size`` items and
        labels them. Round ``r`` trains on the items labelled in rounds
        ``0..r``; the initial labels are round 0.

        Each round's training is seeded with a seed made from the run seed
        and the round index (``lightning.pytorch.seed_everything``), so a run
        is reproducible and a resumed round trains as it would have.

        Args:
            strategy: The query strategy wrapping the model.
            datamodule: The data, with at least one labelled item.
            query_size: Items to label per round, at most the pool at the
                start. A later round with fewer items left labels the rest.
            max_rounds: Rounds to run, counting the first one, which trains
                on the initial labels. ``None`` for no limit.
            max_budget: Maximum number of labelled items, initial labels
                included. The last query is cut to fit. ``None`` for no limit.
            reinit_model: Restore the model's weights from before the run at
                the start of every round. ``False`` continues from the
                previous round's weights.
            on_round_end: Called with each round's record as soon as it is
                complete, after the run directory has saved it.
            run_dir: Folder where the run saves its state after every
                labelling step (see :mod:`energizer.loop.run_dir`): labelled
                ids with their rounds, results, seeds, configuration and
                weights. ``None`` saves nothing.
            resume: Continue the run saved in ``run_dir`` from its last
                complete step. The configuration must match the saved one:
                the arguments of this call, the strategy, the dataset, the
                model's layout and JSON-serialisable ``hparams``, and the
                trainer's training limits (see
                :data:`energizer.loop.run_config.TRAINER_SETTINGS`). A
                finished run returns its saved results.
            seed: Run seed of the rounds' training. ``None`` draws one from
                PyTorch's global generator. A resumed run uses the saved one,
                and rejects a ``seed`` that differs from it.
            stopping: More stopping criteria (see :mod:`energizer.stopping`),
                checked after each round's test, in order. The run stops at
                the first that fires, with its reason in the results.
            annotator: Who labels the queried items (see
                :mod:`energizer.annotators`). ``None`` is research mode: the
                items' targets in the dataset are their labels. With an
                annotator, each round requests labels for the queried ids
                and collects what has arrived: labels for earlier rounds'
                ids included. Received labels replace the dataset's targets
                in training, skipped ids return to the pool, and ids still
                pending are not queried again. With ``run_dir``, the pending
                ids and every received label are saved before they are
                used, and a resumed run requests the pending ids again.
            annotation_timeout: Seconds that each round waits for labels.
                ``None`` waits until every pending id has a label or was
                skipped.

        Returns:
            One record per round and the reason the run stopped.

        Raises:
            InvalidArgumentError: Before any training, on a wrong strategy or
                data module type, a ``query_size``, ``max_rounds`` or
                ``max_budget`` that is not a positive integer, a budget below
                the labelled count, no labelled item to start from, a
                ``run_dir`` that holds a run (without ``resume``), or one that
                is missing, empty, damaged or saved with another
                configuration (with ``resume``), an ``annotator`` that is not
                an :class:`~energizer.annotators.Annotator`, an annotator
                in a run on more than one process, or one whose number of
                classes differs from the model's number of outputs. Also
                when a collected label is outside the model's classes: the
                run raises before it saves any label of that collect, so a
                resume collects them again once the label is corrected.
        """
        check_annotator(annotator, annotation_timeout, self.world_size)
        query_size = check_count("query_size", query_size)
        check_strategy_and_data(strategy, datamodule, query_size)
        check_launch(self.round_trainer_kwargs.get("strategy"))
        check_predict_limit(self.limit_predict_batches)
        max_rounds = check_optional_count("max_rounds", max_rounds)
        max_budget = check_optional_count("max_budget", max_budget)
        check_run_options(run_dir, resume, seed, reinit_model)
        criteria = run_criteria(max_rounds, max_budget, stopping)
        budget = label_budget(criteria)
        directory = RunDirectory(run_dir) if run_dir is not None else None
        config = None
        if directory is not None:
            config = run_config(
                strategy,
                datamodule,
                query_size=query_size,
                max_rounds=max_rounds,
                max_budget=max_budget,
                reinit_model=reinit_model,
                stopping=stopping,
                trainer=self,
            )

        model = strategy.model
        results = ActiveFitResults(strategy=type(strategy).__name__)
        if resume:
            progress = self._resume(directory, config, seed, strategy, datamodule, criteria)
            results = progress.results
            if results.stop_reason is not None:
                log.info("The saved run had already stopped: %s", results.stop_message)
                return results
            if annotator is None and progress.pending_ids.size:
                raise InvalidArgumentError(
                    "annotator",
                    "the annotator of the saved run, which waits for labels",
                    f"None, with {progress.pending_ids.size} ids pending (for example "
                    f"{progress.pending_ids[:10].tolist()})",
                    "Pass the same annotator as the saved run, built on the same file or project.",
                )
            check_start(datamodule, max_budget)
            num_classes = check_data_fits_model(
                strategy, datamodule, given_labels_fix=_saved_labels_fix(directory)
            )
            if annotator is not None:
                check_annotator_classes(annotator, num_classes)
                progress.uses_annotator = True
                annotator.mark_labelled(datamodule.labelled_ids)
                annotator.request(progress.pending_ids)
                progress.foreign_ids = self._cancel_unsaved_requests(annotator, progress.pending_ids)
                if progress.awaiting_labels:
                    self._collect_labels(
                        annotator,
                        annotation_timeout,
                        num_classes,
                        directory,
                        progress,
                        strategy,
                        datamodule,
                        reinit_model,
                        criteria,
                    )
                    # The interrupted process stopped while it waited, before it reported the round.
                    self._log_round(results.rounds[-1])
                    if on_round_end is not None:
                        on_round_end(results.rounds[-1])
        else:
            if directory is not None and self.is_global_zero:
                # Process 0 alone writes the folder, so only it checks that the folder is new:
                # in a distributed run the others may start after it has written step 0.
                directory.check_new()
            check_start(datamodule, max_budget)
            budget_left = None if budget is None else budget - datamodule.num_labelled
            check_query_fits_pool(query_size, datamodule.num_unlabelled, budget_left)
            num_classes = check_data_fits_model(strategy, datamodule)
            if annotator is not None:
                check_annotator_classes(annotator, num_classes)
            for criterion in criteria:
                criterion.reset()
            initial_weights = copy.deepcopy(model.state_dict()) if reinit_model else None
            progress = _Progress(
                results=results,
                round_index=datamodule.current_round,
                run_seed=draw_seed() if seed is None else int(seed),
                initial_weights=initial_weights,
                step=0,
                uses_annotator=annotator is not None,
            )
            if directory is not None and self.is_global_zero:
                directory.start(config, initial_weights)
                self._save_step(directory, progress, strategy, datamodule, reinit_model, criteria)
            if annotator is not None:
                annotator.mark_labelled(datamodule.labelled_ids)
                annotator.connect()
                progress.foreign_ids = self._cancel_unsaved_requests(annotator, np.empty(0, dtype=np.int64))
        stop_set_size = max((criterion.stop_set_size for criterion in criteria if criterion.needs_stop_set), default=0)

        while True:
            round_index = progress.round_index
            datamodule.check_dataset_unchanged()
            pl.seed_everything(derive_seed(progress.run_seed, round_index), workers=True, verbose=False)
            if progress.initial_weights is not None:
                model.load_state_dict(progress.initial_weights)
            runner = self.new_round_trainer(round_index)
            self.round_trainer = runner

            started = time.perf_counter()
            # Loaders built after RoundData.setup: in a distributed run, process 0's labels are shared first.
            with keyboard_interrupt_passed_on(runner):
                runner.fit(model, datamodule=round_data(datamodule))
            fit_seconds = time.perf_counter() - started
            ranks = Ranks(runner)
            check_processes_joined(runner.world_size, ranks.connected)
            # Process 0's run seed, so later rounds train with the same seed everywhere even when unseeded.
            progress.run_seed = ranks.broadcast(progress.run_seed)
            fit_metrics = _scalars(runner.callback_metrics)
            num_labelled, num_train, num_val = datamodule.num_labelled, datamodule.num_train, datamodule.num_val
            if stop_set_size and progress.stop_set_ids is None:
                # Drawn after the first fit, once process 0's labels are shared, from the initial pool.
                seed_of_set = derive_seed(progress.run_seed, round_index, 1)
                progress.stop_set_ids = ranks.broadcast(draw_stop_set(datamodule.pool_ids, stop_set_size, seed_of_set))

            started = time.perf_counter()
            metrics = self._test(runner, model, datamodule)
            test_seconds = time.perf_counter() - started

            stop = None
            if datamodule.num_unlabelled == 0:
                stop = Stop(
                    StopReason.POOL_EXHAUSTED, f"Stopped: the pool is empty, all {num_labelled} items are labelled."
                )
            elif criteria:
                evidence = self._evidence(
                    runner, strategy, datamodule, progress, len(results) + 1, fit_metrics, metrics, ranks
                )
                stop = next(filter(None, (criterion.update(evidence) for criterion in criteria)), None)
            queried = np.empty(0, dtype=np.int64)
            queried_scores = None
            query_seconds = 0.0
            if stop is None:
                # Pending ids wait for people's labels, so they are neither queried again nor
                # counted twice against the budget. Ids of other runs' requests are not queried.
                pending = progress.pending_ids
                excluded = np.union1d(pending, progress.foreign_ids)
                size = min(query_size, datamodule.num_unlabelled - int(np.isin(excluded, datamodule.pool_ids).sum()))
                if budget is not None:
                    size = min(size, budget - num_labelled - pending.size)
                if size > 0:
                    started = time.perf_counter()
                    queried, queried_scores = self._select_with_scores(
                        runner, strategy, datamodule, size, round_index, exclude=excluded
                    )
                    query_seconds = time.perf_counter() - started
                if annotator is None:
                    datamodule.label(queried, round=round_index + 1)
                else:
                    progress.pending_ids = np.union1d(pending, queried).astype(np.int64)
                    progress.awaiting_labels = True

            record = RoundResult(
                round=round_index,
                num_labelled=num_labelled,
                num_train=num_train,
                num_val=num_val,
                metrics=metrics,
                fit_seconds=fit_seconds,
                test_seconds=test_seconds,
                query_seconds=query_seconds,
                queried_ids=queried,
            )
            results.rounds.append(record)
            if stop is not None:
                results.stop_reason, results.stop_message = stop.reason, stop.message
            progress.round_index = round_index + 1
            progress.step += 1
            if directory is not None and self.is_global_zero:
                self._save_step(directory, progress, strategy, datamodule, reinit_model, criteria)
            if annotator is not None and stop is None:
                predictions = self._predicted_classes(runner, strategy, datamodule, queried)
                annotator.request(queried, predictions=predictions, scores=queried_scores)
                self._collect_labels(
                    annotator,
                    annotation_timeout,
                    num_classes,
                    directory,
                    progress,
                    strategy,
                    datamodule,
                    reinit_model,
                    criteria,
                )
            self._log_round(record)
            if on_round_end is not None:
                on_round_end(record)
            if stop is not None:
                log.info(results.stop_message)
                return results

    def query(self, strategy: QueryStrategy, datamodule: ActiveDataModule, query_size: int) -> np.ndarray:
        """Score the current pool once with the model's current weights and return the chosen ids.

        Labels nothing: pass the ids to ``datamodule.label`` once their labels
        are known.

        Returns:
            ``query_size`` distinct dataset ids, most informative first.

        Raises:
            EmptyPoolError: When every item is labelled.
            InvalidArgumentError: On a wrong type, a ``query_size`` that is
                not a positive integer or exceeds the pool, or data that does
                not fit the model (see :func:`energizer.loop.label_checks.check_data_fits_model`).
        """
        query_size = check_count("query_size", query_size)
        check_strategy_and_data(strategy, datamodule, query_size)
        check_launch(self.round_trainer_kwargs.get("strategy"))
        check_predict_limit(self.limit_predict_batches)
        pool_size = datamodule.num_unlabelled
        if pool_size == 0:
            raise EmptyPoolError(
                f"Cannot query: all {datamodule.dataset_length} items are labelled, so the pool "
                "is empty. Stop the run, or build a data module over more data."
            )
        check_query_fits_pool(query_size, pool_size)
        if strategy.needs_pool_pass or strategy.needs_labelled_pass:
            # Nothing trains here, so a strategy that never runs the model needs no probe.
            check_data_fits_model(strategy, datamodule)
        return self._select(self, strategy, datamodule, query_size, datamodule.current_round)

    # ------------------------------------------------------------- run state

    def _resume(
        self,
        directory: RunDirectory,
        config: dict[str, Any],
        seed: int | None,
        strategy: QueryStrategy,
        datamodule: ActiveDataModule,
        criteria: list[StoppingCriterion],
    ) -> _Progress:
        """Load the last complete step of ``directory`` into the strategy, data, model and criteria."""
        saved = directory.load()
        differences = config_differences(saved.config, config) + seed_differences(saved.state["run_seed"], seed)
        if differences:
            raise InvalidArgumentError(
                "run_dir",
                "a saved run with the configuration of this call",
                f"{str(directory.path)!r}, saved with another configuration: " + "; ".join(differences),
                "Resume with the settings, model and dataset of the saved run, or start a new run "
                "in another folder.",
            )
        state = saved.state
        datamodule.load_state_dict(
            {
                **state["datamodule"],
                "label_rounds": saved.label_rounds,
                "validation_ids": saved.validation_ids,
                "given_labels": saved.given_labels,
            }
        )
        annotation = state.get("annotation")
        strategy.load_query_state_dict(state["strategy"])
        for criterion, criterion_state in zip(criteria, state["stopping"]):
            criterion.load_state_dict(criterion_state)
        strategy.model.load_state_dict(saved.weights)
        log.info("Resuming the run in %s at round %d.", directory.path, state["next_round"])
        return _Progress(
            results=ActiveFitResults.from_document(state["results"]),
            round_index=int(state["next_round"]),
            run_seed=int(state["run_seed"]),
            initial_weights=saved.initial_weights,
            step=int(state["step"]),
            stop_set_ids=None if state["stop_set_ids"] is None else np.asarray(state["stop_set_ids"], np.int64),
            uses_annotator=annotation is not None,
            pending_ids=np.asarray(annotation["pending_ids"] if annotation else [], dtype=np.int64),
            awaiting_labels=bool(annotation and annotation["awaiting_labels"]),
        )

    @staticmethod
    def _save_step(
        directory: RunDirectory,
        progress: _Progress,
        strategy: QueryStrategy,
        datamodule: ActiveDataModule,
        reinit_model: bool,
        criteria: list[StoppingCriterion],
        data_state: dict[str, Any] | None = None,
    ) -> None:
        """Write one step; ``data_state`` replaces the data module's current state, for labels not yet applied."""
        if data_state is None:
            data_state = datamodule.state_dict()
        state = {
            "step": progress.step,
            "next_round": progress.round_index,
            "run_seed": progress.run_seed,
            "datamodule": {
                name: data_state[name] for name in ("dataset_length", "val_fraction", "rng_state")
            },
            "strategy": strategy.query_state_dict(),
            "stopping": [criterion.state_dict() for criterion in criteria],
            "stop_set_ids": None if progress.stop_set_ids is None else progress.stop_set_ids.tolist(),
        }
        if progress.uses_annotator:
            state["annotation"] = {
                "pending_ids": progress.pending_ids.tolist(),
                "awaiting_labels": progress.awaiting_labels,
            }
        label_rounds = np.asarray(data_state["label_rounds"], dtype=np.int64)
        validation_ids = np.asarray(data_state["validation_ids"], dtype=np.int64)
        given_labels = np.asarray(data_state["given_labels"], dtype=np.int64)
        # With weight resets every round starts from initial_weights.pt; otherwise save where the next round starts.
        weights = None if reinit_model else strategy.model.state_dict()
        directory.save_step(state, label_rounds, validation_ids, weights, progress.results, given_labels)

    def _collect_labels(
        self,
        annotator: Annotator,
        timeout: float | None,
        num_classes: int | None,
        directory: RunDirectory | None,
        progress: _Progress,
        strategy: QueryStrategy,
        datamodule: ActiveDataModule,
        reinit_model: bool,
        criteria: list[StoppingCriterion],
    ) -> None:
        """Wait for labels, save them with the run, then label them in round ``progress.round_index``.

        Skipped ids return to the pool, and ids without an outcome stay
        pending for a later round's collect. A label outside the model's
        ``num_classes`` classes raises before anything is saved, so every
        label of this collect stays in the annotator's store for a resume.
        """
        # A Label Studio annotator without class names learns them when it first connects.
        check_annotator_classes(annotator, num_classes)
        started = time.perf_counter()
        received = annotator.collect(timeout=timeout)
        waited = time.perf_counter() - started
        ids, classes = received.ids, received.classes
        if num_classes is not None:
            check_class_indices(
                ids, classes, num_classes, argument="annotator", fix=_collected_labels_fix(directory)
            )
        progress.pending_ids = np.asarray(annotator.pending_ids, dtype=np.int64)
        progress.awaiting_labels = False
        log.info(
            "After round %d: waited %.1f s for labels, received %d, %d skipped, %d still pending.",
            progress.round_index - 1,
            waited,
            ids.size,
            len(received.returned),
            progress.pending_ids.size,
        )
        if directory is not None and self.is_global_zero:
            data_state = datamodule.state_dict_after_label(ids, round=progress.round_index, labels=classes)
            progress.step += 1
            self._save_step(directory, progress, strategy, datamodule, reinit_model, criteria, data_state)
        datamodule.label(ids, round=progress.round_index, labels=classes)

    @staticmethod
    def _cancel_unsaved_requests(annotator: Annotator, saved_pending: np.ndarray) -> np.ndarray:
        """Stop waiting for ids that the annotator's store lists but this run never requested; return them.

        An annotator adopts every open row or task of its store when it connects,
        including those left by other runs. A run must not take their labels as
        its own. A new run requested none of them, and a resumed run requested
        ``saved_pending``.
        A later request of such an id would reuse its row or task, label included,
        so the run does not query these ids at all.
        """
        unsaved = np.setdiff1d(annotator.pending_ids, saved_pending)
        if unsaved.size:
            annotator.cancel(unsaved)
            log.warning(
                "Ignoring %d items of the annotator's store that this run did not request (for example %s): "
                "the run neither queries them nor uses their labels while they stay in the store. Delete "
                "them from the labelling file or project to make them available to the run.",
                unsaved.size,
                unsaved[:10].tolist(),
            )
        return unsaved.astype(np.int64)

    def _predicted_classes(
        self, runner: pl.Trainer, strategy: QueryStrategy, datamodule: ActiveDataModule, ids: np.ndarray
    ) -> np.ndarray | None:
        """Return the model's class for each of ``ids``, shown to people as a pre-annotation.

        ``None`` when there is no id, or when the model's output is not
        logits (a strategy with its own embeddings may use such a model).
        """
        if ids.size == 0:
            return None
        predictor = StopSetPredictor(strategy)
        try:
            with keyboard_interrupt_passed_on(runner):
                runner.predict(predictor, dataloaders=datamodule.items_dataloader(ids), return_predictions=False)
        except (InvalidScoresError, InvalidArgumentError) as error:
            log.info("Sending the queried items without predictions: %s", error)
            return None
        probabilities = predictor.probabilities(ids, round_index=strategy.round_index)
        return probabilities.argmax(dim=1).numpy().astype(np.int64)

    def _evidence(
        self,
        runner: pl.Trainer,
        strategy: QueryStrategy,
        datamodule: ActiveDataModule,
        progress: _Progress,
        rounds_done: int,
        fit_metrics: dict[str, float],
        test_metrics: dict[str, float],
        ranks: Ranks,
    ) -> RoundEvidence:
        """Collect what the stopping criteria judge: counts, metrics and, when needed, stop-set predictions."""
        ids = progress.stop_set_ids if progress.stop_set_ids is not None else np.empty(0, dtype=np.int64)
        probabilities = None
        if ids.size:
            predictor = StopSetPredictor(strategy)
            loader = datamodule.items_dataloader(ids, **ranks.loader_share())
            self._predict(runner, predictor, loader, datamodule, ranks, ids.size)
            probabilities = predictor.probabilities(ids, round_index=progress.round_index)
        return RoundEvidence(
            round=progress.round_index,
            rounds_done=rounds_done,
            num_labelled=datamodule.num_labelled,
            pool_size=datamodule.num_unlabelled,
            validation_metrics=fit_metrics,
            test_metrics=test_metrics,
            stop_set_ids=ids,
            stop_set_probabilities=probabilities,
            stop_set_unlabelled=datamodule.label_rounds[ids] == UNLABELLED,
        )

    # ---------------------------------------------------------------- phases

    def _test(self, runner: pl.Trainer, model: Any, datamodule: ActiveDataModule) -> dict[str, float]:
        if datamodule.test_dataset is None:
            return {}
        with keyboard_interrupt_passed_on(runner):
            outputs = runner.test(model, dataloaders=datamodule.test_dataloader(), verbose=False)
        metrics: dict[str, float] = {}
        for output in outputs:
            metrics.update({name: float(value) for name, value in output.items()})
        return metrics

    def _select(
        self,
        runner: pl.Trainer,
        strategy: QueryStrategy,
        datamodule: ActiveDataModule,
        query_size: int,
        round_index: int,
    ) -> np.ndarray:
        return self._select_with_scores(runner, strategy, datamodule, query_size, round_index)[0]

    def _select_with_scores(
        self,
        runner: pl.Trainer,
        strategy: QueryStrategy,
        datamodule: ActiveDataModule,
        query_size: int,
        round_index: int,
        exclude: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """Return the chosen ids and their scores (``None`` for a strategy that scores nothing).

        ``exclude`` holds pool ids that may not be chosen, such as ids that
        wait for people's labels.
        """

        def configure(predict_pass: PredictPass) -> None:
            strategy.configure_pool(
                target_key=datamodule.target_key,
                round_index=round_index,
                query_size=query_size,
                predict_pass=predict_pass,
            )

        ranks = Ranks(runner)
        pool_ids = datamodule.pool_ids
        if exclude is not None and exclude.size:
            pool_ids = np.setdiff1d(pool_ids, exclude)
        configure(PredictPass.POOL)
        candidate_ids = strategy.candidate_ids(pool_ids)
        if strategy.needs_labelled_pass:
            configure(PredictPass.LABELLED)
            if datamodule.num_labelled > 0:
                loader = datamodule.labelled_dataloader(**ranks.loader_share())
                self._predict(runner, strategy, loader, datamodule, ranks, datamodule.num_labelled)
            configure(PredictPass.POOL)
        scores = None
        if strategy.needs_pool_pass:
            # A data module that overrides pool_dataloader() without the ids
            # argument keeps working unless a sub-pool is drawn.
            is_subpool = candidate_ids.size < datamodule.num_unlabelled
            share = ranks.loader_share()
            if is_subpool:
                loader = datamodule.pool_dataloader(candidate_ids, **share)
            else:
                loader = datamodule.pool_dataloader(**share)
            self._predict(runner, strategy, loader, datamodule, ranks, candidate_ids.size)
            scores = strategy.collected_scores(candidate_ids)
        ids = strategy.query(candidate_ids, scores, query_size)
        ids = check_queried_ids(ids, pool_ids, query_size, strategy)
        # Every process labels process 0's choice, even where a strategy draws without a seed.
        ids = ranks.broadcast(ids)
        if scores is None:
            return ids, None
        position = {dataset_id: index for index, dataset_id in enumerate(candidate_ids.tolist())}
        return ids, np.asarray([scores[position[i]] for i in ids.tolist()], dtype=np.float64)

    @staticmethod
    def _predict(
        runner: pl.Trainer,
        strategy: QueryStrategy,
        loader: Any,
        datamodule: ActiveDataModule,
        ranks: Ranks,
        num_items: int,
    ) -> None:
        """Run one predict pass of ``strategy``; in a distributed run, gather its results on every process."""
        with keyboard_interrupt_passed_on(runner):
            runner.predict(strategy, dataloaders=loader, return_predictions=False)
        check_processes_joined(ranks.world_size, ranks.connected)
        if ranks.connected:
            check_labelled_state_shared(datamodule, ranks)
            if ranks.splits(num_items):
                strategy.gather_collected(ranks)

    def _log_round(self, record: RoundResult) -> None:
        values = {
            "round": record.round,
            "num_labelled": record.num_labelled,
            **record.metrics,
            "fit_seconds": record.fit_seconds,
            "query_seconds": record.query_seconds,
        }
        for logger in self.loggers:
            prefixed = {f"active/{name}": float(value) for name, value in values.items()}
            logger.log_metrics(prefixed, step=record.num_labelled)
            logger.save()
        log.info(
            "Round %d: %d labelled, %s",
            record.round,
            record.num_labelled,
            ", ".join(f"{name}={value:.4g}" for name, value in record.metrics.items()) or "no test set",
        )


@dataclass
class _Progress:
    """Where a run is: its results so far, the next round, its seed and the weights each round starts from."""

    results: ActiveFitResults
    round_index: int
    run_seed: int
    initial_weights: dict[str, Any] | None
    step: int
    stop_set_ids: np.ndarray | None = None
    uses_annotator: bool = False
    pending_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    awaiting_labels: bool = False
    # Ids of requests that other runs left in the annotator's store, found again at each start.
    foreign_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))


def _collected_labels_fix(directory: RunDirectory | None) -> str:
    """Return the advice of the error on a collected label outside the model's classes."""
    if directory is None:
        then = "then start the run again, with a run_dir so that it can resume after such an error."
    else:
        then = (
            f"then resume the run with resume=True and run_dir={str(directory.path)!r}. No label of "
            "this collect was saved, so the resumed run collects them all again."
        )
    return (
        "Correct these labels in the labelling file or Label Studio project, or mark those items "
        f"as skipped, {then}"
    )


def _saved_labels_fix(directory: RunDirectory) -> str:
    """Return the advice of the error on a saved given label outside the model's classes."""
    return (
        f"The run saved these labels in {str(directory.labels_path())!r} before they were checked "
        "against the model. Correct them in its given_labels array (numpy.load the file, change "
        "the values, then numpy.savez every array back under its name) and resume, or start a new "
        "run in another folder."
    )


def _scalars(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Return the one-number entries of Lightning's ``callback_metrics`` as floats."""
    return {name: float(value) for name, value in metrics.items() if getattr(value, "numel", lambda: 1)() == 1}


def _copy_callback(callback: Any) -> Any:
    try:
        return copy.deepcopy(callback)
    except Exception as error:
        raise InvalidArgumentError(
            "callbacks",
            "callbacks that copy.deepcopy can copy, so each round starts from a fresh one",
            f"a {type(callback).__name__} that failed to copy ({error})",
            "Keep unpicklable objects such as open files or locks out of the callback's attributes.",
        ) from error
