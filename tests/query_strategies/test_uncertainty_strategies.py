"""Tests of the uncertainty strategies on hand-set logits, and of the QueryStrategy base class.

Most tests use a dataset whose items are the logits and a model that returns
its input, so every score is known in advance.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from strategy_helpers import IdentityModel, logits_dataset, make_trainer
from torch import Tensor, nn
from torch.utils.data import DataLoader, Dataset, TensorDataset

from energizer import ActiveDataModule
from energizer.data import CollateWithIds, IndexedSubset
from energizer.errors import (
    EnergizerError,
    InvalidArgumentError,
    InvalidQueryError,
    InvalidScoresError,
)
from energizer.query_strategies import (
    EntropyStrategy,
    LeastConfidenceStrategy,
    MarginStrategy,
    ModelOutput,
    QueryStrategy,
    RandomStrategy,
)
from energizer.selection import ScoreOrder

# Class probabilities of each dataset item. The logits are their logs, so
# softmax(logits) gives them back (log 0 = -inf). A "uniform" row has the
# constant logit shown, which gives probability 1/3 to each class.
#
#  id  probabilities         entropy  margin  least confidence
#   0  (0.90, 0.05, 0.05)     0.394    0.15    0.10
#   1  (0.70, 0.15, 0.15)     0.819    0.45    0.30
#   2  uniform, logits 3      1.099    1.00    0.667
#   3  (0.50, 0.48, 0.02)     0.777    0.98    0.50
#   4  uniform, logits 1      labelled, so never queried
#   5  (0.60, 0.20, 0.20)     0.950    0.60    0.40
#   6  (0.75, 0.25, 0)        0.562    0.50    0.25
#   7  (0.40, 0.30, 0.30)     1.089    0.90    0.60
#   8  (0.90, 0.05, 0.05)     0.394    0.15    0.10
#   9  (0.55, 0.44, 0.01)     0.736    0.89    0.45
#  10  uniform, logits 0      1.099    1.00    0.667
#
# Ids 2 and 10, and ids 0 and 8, score exactly the same, so the lower id
# comes first.
PROBABILITY_ROWS: list[tuple[float, float, float]] = [
    (0.90, 0.05, 0.05),
    (0.70, 0.15, 0.15),
    (0.0, 0.0, 0.0),
    (0.50, 0.48, 0.02),
    (0.0, 0.0, 0.0),
    (0.60, 0.20, 0.20),
    (0.75, 0.25, 0.0),
    (0.40, 0.30, 0.30),
    (0.90, 0.05, 0.05),
    (0.55, 0.44, 0.01),
    (0.0, 0.0, 0.0),
]
UNIFORM_LOGITS = {2: 3.0, 4: 1.0, 10: 0.0}
LABELLED_ID = 4
POOL_SIZE = len(PROBABILITY_ROWS) - 1


def hand_logits() -> Tensor:
    rows = []
    for dataset_id, probabilities in enumerate(PROBABILITY_ROWS):
        if dataset_id in UNIFORM_LOGITS:
            rows.append([UNIFORM_LOGITS[dataset_id]] * 3)
        else:
            rows.append([math.log(p) if p > 0 else -math.inf for p in probabilities])
    return torch.tensor(rows, dtype=torch.float32)


# Every pool id, most informative first, worked out from the table above.
HAND_RANKINGS: dict[type[QueryStrategy], list[int]] = {
    EntropyStrategy: [2, 10, 7, 5, 1, 3, 9, 6, 0, 8],
    MarginStrategy: [2, 10, 3, 7, 9, 5, 6, 1, 0, 8],
    LeastConfidenceStrategy: [2, 10, 7, 3, 9, 5, 1, 6, 0, 8],
}
UNCERTAINTY_STRATEGIES = list(HAND_RANKINGS)


class DescendingPoolDataModule(ActiveDataModule):
    """A data module whose pool loader yields the pool in descending id order."""

    def pool_dataloader(self) -> DataLoader:
        return DataLoader(
            IndexedSubset(self.pool_dataset, self.pool_ids[::-1]),
            batch_size=self.eval_batch_size,
            collate_fn=CollateWithIds(self.collate_fn),
        )


def hand_datamodule(
    dataset: Dataset | None = None,
    datamodule_class: type[ActiveDataModule] = ActiveDataModule,
    **kwargs: Any,
) -> ActiveDataModule:
    """Build a data module over the hand-set logits with id 4 labelled in round 0."""
    kwargs.setdefault("eval_batch_size", 4)
    return datamodule_class(
        dataset if dataset is not None else logits_dataset(hand_logits()),
        initial_labels=[LABELLED_ID],
        **kwargs,
    )


def query(strategy: QueryStrategy, datamodule: ActiveDataModule, query_size: int) -> list[int]:
    return make_trainer().query(strategy, datamodule, query_size).tolist()


class FunctionModel(nn.Module):
    """A model whose output is ``function(inputs)``, and which counts its calls."""

    def __init__(self, function: Callable[[Any], Any]) -> None:
        super().__init__()
        self.function = function
        self.calls = 0

    def forward(self, inputs: Any) -> Any:
        self.calls += 1
        return self.function(inputs)


class ScoreFunctionStrategy(QueryStrategy):
    """A strategy whose ``pool_step`` returns ``score_function(model inputs)``."""

    def __init__(self, score_function: Callable[[Tensor], Any]) -> None:
        super().__init__(IdentityModel())
        self.score_function = score_function

    def pool_step(self, batch: Any, batch_idx: int) -> Any:
        return self.score_function(self.get_inputs_from_batch(batch))


# ------------------------------------------------------------ hand rankings


@pytest.mark.parametrize("query_size", [1, 3, POOL_SIZE])
@pytest.mark.parametrize("strategy_class", UNCERTAINTY_STRATEGIES, ids=lambda c: c.__name__)
def test_hand_worked_ranking(strategy_class, query_size):
    ids = query(strategy_class(IdentityModel()), hand_datamodule(), query_size)

    assert ids == HAND_RANKINGS[strategy_class][:query_size]


@pytest.mark.parametrize("strategy_class", UNCERTAINTY_STRATEGIES, ids=lambda c: c.__name__)
def test_ties_ignore_arrival_order(strategy_class):
    # The pool arrives in descending id order, so id 10 is scored before id 2.
    datamodule = hand_datamodule(datamodule_class=DescendingPoolDataModule)

    ids = query(strategy_class(IdentityModel()), datamodule, POOL_SIZE)

    assert ids == HAND_RANKINGS[strategy_class]


@pytest.mark.parametrize(
    ("strategy_class", "requires", "needs_pool_pass"),
    [
        (RandomStrategy, frozenset(), False),
        (EntropyStrategy, frozenset({ModelOutput.LOGITS}), True),
        (MarginStrategy, frozenset({ModelOutput.LOGITS}), True),
        (LeastConfidenceStrategy, frozenset({ModelOutput.LOGITS}), True),
    ],
    ids=lambda value: value.__name__ if isinstance(value, type) else None,
)
def test_declared_requirements(strategy_class, requires, needs_pool_pass):
    strategy = strategy_class(IdentityModel())

    assert strategy_class.requires == requires
    assert strategy.needs_pool_pass is needs_pool_pass
    assert strategy_class.score_order is ScoreOrder.HIGHER_FIRST


def test_random_runs_no_forward():
    model = FunctionModel(lambda inputs: inputs)

    ids = query(RandomStrategy(model, seed=0), hand_datamodule(), 3)

    assert model.calls == 0
    assert len(ids) == 3


@pytest.mark.parametrize("strategy_class", UNCERTAINTY_STRATEGIES, ids=lambda c: c.__name__)
def test_pool_pass_is_inference(strategy_class):
    seen = []

    def record_state(inputs: Tensor) -> Tensor:
        seen.append((torch.is_grad_enabled(), model.training))
        return inputs

    model = FunctionModel(record_state)
    model.train()

    query(strategy_class(model), hand_datamodule(), 3)

    # One pass checks the data before the query, then ten pool items in batches of 4 make three.
    assert len(seen) == 4
    assert all(not grad_enabled for grad_enabled, _ in seen), "pool pass ran with gradients"
    assert all(not training for _, training in seen), "pool pass ran in training mode"


# ---------------------------------------------------------- model outputs


class MappingDataset(Dataset):
    """Items ``{"features": logits_row, "label": 0}``, with the target stored under "label"."""

    def __init__(self, logits: Tensor) -> None:
        self.logits = logits

    def __len__(self) -> int:
        return len(self.logits)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"features": self.logits[index], "label": 0}


class KeywordModel(nn.Module):
    """A model that returns its ``features`` argument as logits and records its keyword names."""

    def __init__(self) -> None:
        super().__init__()
        self.keywords: list[set[str]] = []

    def forward(self, **inputs: Tensor) -> Tensor:
        self.keywords.append(set(inputs))
        return inputs["features"]


def test_mapping_batch_drops_target():
    model = KeywordModel()
    datamodule = hand_datamodule(MappingDataset(hand_logits()), target_key="label")

    ids = query(EntropyStrategy(model), datamodule, 3)

    assert ids == HAND_RANKINGS[EntropyStrategy][:3]
    # One forward pass checks the data before the query, then three score the pool.
    assert model.keywords == [{"features"}] * 4


@pytest.mark.parametrize(
    "wrap_logits",
    [
        lambda logits: {"logits": logits, "hidden": torch.zeros(len(logits), 2)},
        lambda logits: SimpleNamespace(logits=logits, loss=None),
    ],
    ids=["mapping", "attribute"],
)
def test_wrapped_logits_output(wrap_logits):
    model = FunctionModel(wrap_logits)

    ids = query(EntropyStrategy(model), hand_datamodule(), 3)

    assert ids == HAND_RANKINGS[EntropyStrategy][:3]


def test_target_first_tuple_drops_target():
    logits = hand_logits()
    dataset = TensorDataset(torch.zeros(len(logits), dtype=torch.int64), logits)
    datamodule = hand_datamodule(dataset, target_key=0)

    ids = query(EntropyStrategy(IdentityModel()), datamodule, 3)

    assert ids == HAND_RANKINGS[EntropyStrategy][:3]


def test_float64_scores_keep_precision():
    # Least confidence is 0.5 - 5e-10 for id 0 and 0.5 - 2.5e-10 for id 1.
    logits = torch.tensor([[0.0, 2e-9], [0.0, 1e-9], [0.0, 5.0]], dtype=torch.float64)
    dataset = TensorDataset(logits, torch.zeros(3, dtype=torch.int64))
    datamodule = ActiveDataModule(dataset, initial_labels=[2])

    ids = query(LeastConfidenceStrategy(IdentityModel()), datamodule, 1)

    assert ids == [1]


# ----------------------------------------------------- invalid model output


@pytest.mark.parametrize(
    ("model_function", "shown"),
    [
        (lambda logits: logits[:, 0], "(1,)"),
        (lambda logits: logits.unsqueeze(1), "(1, 1, 3)"),
        (lambda logits: logits.tolist(), "list"),
        (lambda logits: {"scores": logits}, "dict"),
    ],
    ids=["1-d", "3-d", "list", "mapping-without-logits"],
)
def test_non_logits_output_raises(model_function, shown):
    model = FunctionModel(model_function)
    # The check before the query runs the model on the one labelled item first.
    message = (
        "EntropyStrategy expected the model to return logits of shape (batch_size, num_classes) "
        f"with batch_size 1, but it returned {shown} in round 0."
    )

    with pytest.raises(InvalidScoresError, match=re.escape(message)):
        query(EntropyStrategy(model), hand_datamodule(), 3)


@pytest.mark.parametrize(
    ("bad_value", "bad_rows"),
    [(math.nan, [1, 2]), (math.inf, [3]), (math.nan, [0, 1, 2, 3])],
    ids=["nan", "plus-inf", "nan-everywhere"],
)
def test_invalid_logits_raise(bad_value, bad_rows):
    logits = hand_logits()
    logits[bad_rows, 1] = bad_value
    datamodule = hand_datamodule(logits_dataset(logits))
    # Ids 0-3 form the first pool batch of 4 items.
    message = (
        f"The model returned NaN or +inf logits for {len(bad_rows)} of 4 items "
        f"of a pool batch (dataset ids {bad_rows}) in round 0."
    )

    with pytest.raises(InvalidScoresError, match=re.escape(message)):
        query(EntropyStrategy(IdentityModel()), datamodule, 3)


def test_error_names_current_round():
    logits = hand_logits()
    logits[9, 0] = math.nan
    datamodule = hand_datamodule(logits_dataset(logits))
    datamodule.label([0])
    datamodule.label([1])

    with pytest.raises(InvalidScoresError, match=re.escape("of a pool batch (dataset ids [9]) in round 2")):
        query(EntropyStrategy(IdentityModel()), datamodule, 3)


def test_all_minus_inf_row_raises():
    logits = hand_logits()
    logits[5] = -math.inf
    datamodule = hand_datamodule(logits_dataset(logits))

    with pytest.raises(InvalidScoresError, match=r"all -inf, so no class is possible, for 1 of 4 items .* round 0"):
        query(EntropyStrategy(IdentityModel()), datamodule, 3)


# --------------------------------------------------- invalid pool_step scores


@pytest.mark.parametrize(
    ("score_function", "shown"),
    [
        (lambda inputs: torch.zeros(len(inputs), 2), "(4, 2)"),
        (lambda inputs: torch.zeros(len(inputs) - 1), "(3,)"),
        (lambda inputs: torch.zeros(()), "()"),
        (lambda inputs: inputs[:, 0].tolist(), "list"),
    ],
    ids=["2-d", "one-short", "scalar", "list"],
)
def test_wrong_score_shape_raises(score_function, shown):
    message = (
        f"ScoreFunctionStrategy.pool_step returned {shown} for a batch of 4 items in round 0; "
        "expected a tensor of shape (4,), one score per item."
    )

    with pytest.raises(InvalidScoresError, match=re.escape(message)):
        query(ScoreFunctionStrategy(score_function), hand_datamodule(), 3)


def test_non_finite_scores_raise():
    features = torch.arange(11, dtype=torch.float32).unsqueeze(1)
    features[[3, 7], 0] = math.nan
    features[9, 0] = -math.inf
    datamodule = hand_datamodule(logits_dataset(features))
    strategy = ScoreFunctionStrategy(lambda inputs: inputs[:, 0])
    message = (
        "pool_step returned 3 NaN or infinite scores out of 10 pool items in round 0 "
        "(dataset ids [3, 7, 9])."
    )

    with pytest.raises(InvalidScoresError, match=re.escape(message)):
        query(strategy, datamodule, 3)


# --------------------------------------------------------- base class misuse


def test_non_module_model_raises():
    message = (
        "Invalid `model`: expected a torch.nn.Module (usually a LightningModule), "
        "received a str."
    )

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        QueryStrategy("not a module")


def test_base_pool_step_not_implemented():
    message = "QueryStrategy needs the model over the pool but does not implement pool_step"

    with pytest.raises(NotImplementedError, match=message):
        query(QueryStrategy(IdentityModel()), hand_datamodule(), 3)


class NoPoolPassStrategy(QueryStrategy):
    requires: ClassVar[frozenset[ModelOutput]] = frozenset()


def test_base_query_without_scores_raises():
    message = re.escape("NoPoolPassStrategy declares no pool outputs, so it must override query().")

    with pytest.raises(NotImplementedError, match=message):
        query(NoPoolPassStrategy(IdentityModel()), hand_datamodule(), 3)


class FixedIdsStrategy(NoPoolPassStrategy):
    """A strategy whose ``query`` returns the ids it was built with."""

    def __init__(self, ids: Any) -> None:
        super().__init__(IdentityModel())
        self.ids = ids

    def query(self, pool_ids: np.ndarray, scores: np.ndarray | None, query_size: int) -> Any:
        return self.ids


@pytest.mark.parametrize(
    ("returned_ids", "message"),
    [
        ([0, 1, 4], "FixedIdsStrategy.query returned 1 ids that are not in the pool (e.g. [4])"),
        ([0, 1, 11], "FixedIdsStrategy.query returned 1 ids that are not in the pool (e.g. [11])"),
        ([0, 1, 1], "FixedIdsStrategy.query returned repeated ids; each id must appear once."),
        ([0, 1], "FixedIdsStrategy.query returned 2 values of dtype int64 and shape (2,); "),
        ([0.0, 1.0, 2.0], "FixedIdsStrategy.query returned 3 values of dtype float64"),
        ([[0, 1, 2]], "FixedIdsStrategy.query returned 3 values of dtype int64 and shape (1, 3)"),
    ],
    ids=["labelled", "out-of-range", "repeated", "too-few", "float", "2-d"],
)
def test_invalid_query_ids_raise(returned_ids, message):
    strategy = FixedIdsStrategy(np.array(returned_ids))

    with pytest.raises(InvalidQueryError, match=re.escape(message)):
        query(strategy, hand_datamodule(), 3)
