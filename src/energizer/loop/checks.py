"""Checks of ``active_fit`` and ``query`` arguments, run before any training."""

from __future__ import annotations

from numbers import Integral
from typing import Any

import numpy as np

from energizer.annotators import Annotator
from energizer.data.datamodule import ActiveDataModule
from energizer.errors import InvalidArgumentError, InvalidQueryError
from energizer.query_strategies.base import QueryStrategy

__all__ = [
    "check_strategy_and_data",
    "check_count",
    "check_optional_count",
    "check_query_fits_pool",
    "check_queried_ids",
    "check_launch",
    "check_predict_limit",
    "check_processes_joined",
    "check_annotator",
    "check_start",
]

# Launch modes in which fit and predict run in child processes that exit afterwards, so
# what a strategy collects never reaches the process that runs the loop.
_CHILD_PROCESS_LAUNCHES = ("spawn", "fork", "notebook")

_LAUNCH_FIX = (
    "Use strategy='ddp', which runs the script once per process (or launch it with "
    "torchrun or srun); see docs/distributed.md."
)


def check_strategy_and_data(strategy: Any, datamodule: Any, query_size: int) -> None:
    """Raise on a wrong type, a changed dataset, or a model that the strategy cannot use."""
    if not isinstance(strategy, QueryStrategy):
        raise InvalidArgumentError(
            "strategy",
            "a QueryStrategy wrapping the model",
            f"a {type(strategy).__name__}",
            "Wrap the model first, e.g. EntropyStrategy(model).",
        )
    if not isinstance(datamodule, ActiveDataModule):
        raise InvalidArgumentError(
            "datamodule",
            "an energizer.ActiveDataModule",
            f"a {type(datamodule).__name__}",
            "Wrap the datasets in ActiveDataModule(...), or an existing LightningDataModule "
            "with ActiveDataModule.from_datamodule(...).",
        )
    datamodule.check_dataset_unchanged()
    strategy.check_setup(query_size)


def check_count(name: str, value: Any, minimum: int = 1) -> int:
    """Return ``value`` as an int, raising unless it is an integer >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise InvalidArgumentError(
            name, f"an integer >= {minimum}", repr(value), f"Pass {name} as a whole number, at least {minimum}."
        )
    return int(value)


def check_optional_count(name: str, value: Any, minimum: int = 1) -> int | None:
    """Like :func:`check_count`, but ``None`` passes through."""
    return None if value is None else check_count(name, value, minimum)


def check_query_fits_pool(query_size: int, pool_size: int, budget_left: int | None = None) -> None:
    """Raise when the first query would request more items than the pool contains.

    Call it before any training, with the pool at the start of the run. Only
    the first query is checked: a later round of ``active_fit`` that finds
    fewer items left than ``query_size`` labels the rest, which is how a run
    ends normally. An empty pool passes, because it is a stop reason of its
    own.

    Args:
        query_size: Items requested per query.
        pool_size: Unlabelled items before the first query.
        budget_left: Items that ``max_budget`` still allows, which caps the
            first query; ``None`` without a budget.
    """
    first_query = query_size if budget_left is None else min(query_size, budget_left)
    if 0 < pool_size < first_query:
        raise InvalidArgumentError(
            "query_size",
            f"at most the {pool_size} unlabelled items in the pool",
            query_size,
            f"Pass query_size={pool_size} or less, or start with fewer labelled items.",
        )


def check_queried_ids(ids: Any, pool_ids: np.ndarray, query_size: int, strategy: QueryStrategy) -> np.ndarray:
    """Return ``ids`` as int64, raising unless they are ``query_size`` distinct pool ids."""
    name = type(strategy).__name__
    array = np.asarray(ids)
    if array.ndim != 1 or array.size != query_size or not np.issubdtype(array.dtype, np.integer):
        raise InvalidQueryError(
            f"{name}.query returned {array.size} values of dtype {array.dtype} and shape "
            f"{array.shape}; expected {query_size} integer dataset ids in a flat array."
        )
    array = array.astype(np.int64)
    if np.unique(array).size != array.size:
        raise InvalidQueryError(f"{name}.query returned repeated ids; each id must appear once.")
    outside = np.setdiff1d(array, pool_ids)
    if outside.size:
        raise InvalidQueryError(
            f"{name}.query returned {outside.size} ids that are not in the pool "
            f"(e.g. {outside[:10].tolist()}); it must choose among pool_ids, never labelled items."
        )
    return array


def check_launch(strategy: Any) -> None:
    """Raise on a Lightning ``strategy`` name whose processes do not run the active learning loop.

    With ``ddp_spawn``, ``ddp_fork`` and ``ddp_notebook``, Lightning starts
    new processes at every ``fit`` and ``predict`` and ends them afterwards,
    so the pool scores never reach the loop.
    """
    if isinstance(strategy, str) and any(word in strategy for word in _CHILD_PROCESS_LAUNCHES):
        raise InvalidArgumentError(
            "strategy",
            "a Lightning strategy whose processes run the whole active learning loop, such as 'ddp'",
            repr(strategy),
            _LAUNCH_FIX,
        )


def check_predict_limit(limit_predict_batches: Any) -> None:
    """Raise unless the trainer predicts on every batch, as pool scoring needs every item's score."""
    if isinstance(limit_predict_batches, float) and limit_predict_batches == 1.0:
        return
    raise InvalidArgumentError(
        "limit_predict_batches",
        "1.0, so that every pool item gets a score",
        repr(limit_predict_batches),
        "Leave limit_predict_batches out; to score fewer items per round, pass subpool_size to the query strategy.",
    )


def check_processes_joined(world_size: int, joined: bool) -> None:
    """Raise when a multi-process trainer ran its last call without this process joining the others.

    This is how a strategy object with a spawn or fork start method shows
    itself, after its first ``fit`` or ``predict``.
    """
    if world_size > 1 and not joined:
        raise InvalidArgumentError(
            "strategy",
            "a Lightning strategy whose processes run the whole active learning loop, such as 'ddp'",
            f"a strategy of {world_size} processes that ran in child processes this process never joined",
            _LAUNCH_FIX,
        )


def check_annotator(annotator: Any, timeout: Any, world_size: int) -> None:
    """Raise on an annotator that is not one, a negative timeout, or an annotator in a multi-process run."""
    if annotator is None:
        return
    if not isinstance(annotator, Annotator):
        raise InvalidArgumentError(
            "annotator",
            "None or an energizer.annotators.Annotator",
            f"a {type(annotator).__name__}",
            "Build one from energizer.annotators, such as FileAnnotator('to_label.csv', class_names).",
        )
    invalid_timeout = isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout < 0
    if timeout is not None and invalid_timeout:
        raise InvalidArgumentError(
            "annotation_timeout", "None or a number of seconds >= 0", repr(timeout), "Pass e.g. annotation_timeout=3600."
        )
    if world_size > 1:
        # NOTE: only process 0 may talk to people, and its labels are not yet shared with the others.
        raise InvalidArgumentError(
            "annotator",
            "None in a run on more than one process",
            f"an annotator in a run on {world_size} processes",
            "Run the loop with an annotator on one process (devices=1).",
        )


def check_start(datamodule: ActiveDataModule, max_budget: int | None) -> None:
    """Raise unless the data module has labelled items to train on and ``max_budget`` allows them."""
    if datamodule.num_labelled == 0:
        raise InvalidArgumentError(
            "datamodule",
            "at least one labelled item to train the first round on",
            "no labelled item",
            "Pass initial_labels=... to ActiveDataModule, or call datamodule.label(ids) first.",
        )
    if datamodule.num_train == 0:
        raise InvalidArgumentError(
            "datamodule",
            "at least one labelled item outside the validation hold-out",
            f"{datamodule.num_labelled} labelled items, all held out for validation",
            "Label more items or lower val_fraction.",
        )
    if max_budget is not None and max_budget < datamodule.num_labelled:
        raise InvalidArgumentError(
            "max_budget",
            f"at least the {datamodule.num_labelled} items already labelled",
            max_budget,
            "Raise max_budget, or start with fewer initial labels.",
        )
