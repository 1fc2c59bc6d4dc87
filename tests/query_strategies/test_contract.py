"""Contract tests that every query strategy must pass.

``QueryStrategyContract`` contains the checks. Each strategy gets one
subclass that sets ``strategy_class``, so a new strategy inherits every check
by adding such a subclass. ``test_every_registered_strategy_has_contract``
fails until a registered strategy has one. Queries run through a real
``energizer.Trainer`` on a small synthetic dataset with a seeded model.
"""

from __future__ import annotations

import re
import warnings
from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from strategy_helpers import NUM_ITEMS, SeededClassifier, make_dataset, make_trainer
from torch.utils.data import DataLoader, Dataset, TensorDataset, default_collate

from energizer import ActiveDataModule
from energizer.acquisition import entropy, least_confidence, margin
from energizer.data import CollateWithIds, IndexedSubset, PoolBatch
from energizer.errors import EmptyPoolError, InvalidArgumentError
from energizer.query_strategies import (
    BADGEStrategy,
    BALDStrategy,
    BatchBALDStrategy,
    ClusterMarginStrategy,
    CoresetStrategy,
    EntropyStrategy,
    ExpectedEntropyStrategy,
    MeanStdStrategy,
    PowerBALDStrategy,
    PredictiveEntropyStrategy,
    SoftmaxBALDStrategy,
    SoftRankBALDStrategy,
    VariationRatiosStrategy,
    LeastConfidenceStrategy,
    MarginStrategy,
    QueryStrategy,
    RandomStrategy,
    TypiClustStrategy,
)
from energizer.query_strategies.registry import STRATEGIES

# Ids labelled before most queries. They include both ends of the id range.
LABELLED_IDS = np.array([0, 7, 13, 21, 34, 59])
POOL_BATCH_SIZE = 8


def make_datamodule(
    dataset: Dataset | None = None,
    labelled: Any = LABELLED_IDS,
    datamodule_class: type[ActiveDataModule] = ActiveDataModule,
    **kwargs: Any,
) -> ActiveDataModule:
    """Build a data module over ``dataset``, by default ``make_dataset()``.

    The ids in ``labelled`` start labelled in round 0, and ``None`` labels nothing.
    """
    kwargs.setdefault("eval_batch_size", POOL_BATCH_SIZE)
    return datamodule_class(
        dataset if dataset is not None else make_dataset(),
        initial_labels=None if labelled is None else list(labelled),
        **kwargs,
    )


def scrambling_pool_collate(pairs: list[tuple[int, Any]]) -> PoolBatch:
    """Collate ``(dataset_id, item)`` pairs in an order unrelated to their ids."""
    ordered = sorted(pairs, key=lambda pair: (pair[0] * 37) % 11)
    ids = torch.tensor([dataset_id for dataset_id, _ in ordered], dtype=torch.int64)
    return PoolBatch(ids=ids, batch=default_collate([item for _, item in ordered]))


class ShuffledPoolDataModule(ActiveDataModule):
    """A data module whose pool loader shuffles items across batches with a fixed seed."""

    def pool_dataloader(self, ids: Any = None) -> DataLoader:
        return DataLoader(
            IndexedSubset(self.pool_dataset, self.pool_ids if ids is None else ids),
            batch_size=self.eval_batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(3),
            collate_fn=CollateWithIds(self.collate_fn),
        )


def loader_id_order(datamodule: ActiveDataModule) -> list[int]:
    return torch.cat([batch.ids for batch in datamodule.pool_dataloader()]).tolist()


def set_module_modes(strategy: QueryStrategy, mode: str) -> None:
    if mode == "train":
        strategy.train()
    elif mode == "eval":
        strategy.eval()
    else:
        # Fine-tuning often freezes BatchNorm while the rest trains.
        strategy.train()
        strategy.model.net[1].eval()


class QueryStrategyContract:
    """Checks that every query strategy must pass.

    Subclass it as ``Test<Name>`` and set ``strategy_class``. Set
    ``permutation_skip_reason`` for a strategy whose choice legitimately
    depends on the dataset's item order, which skips the permuted-dataset check.
    """

    strategy_class: ClassVar[type[QueryStrategy]]
    permutation_skip_reason: ClassVar[str | None] = None
    query_size: ClassVar[int] = 5

    def new_strategy(self, *, seed: int = 0, model_seed: int = 0) -> QueryStrategy:
        return self.strategy_class(SeededClassifier(model_seed), seed=seed)

    def run_query(
        self,
        datamodule: ActiveDataModule,
        query_size: Any = None,
        strategy: QueryStrategy | None = None,
    ) -> np.ndarray:
        """Query with a fresh trainer, and with a fresh strategy unless ``strategy`` is given."""
        if strategy is None:
            strategy = self.new_strategy()
        if query_size is None:
            query_size = self.query_size
        return make_trainer().query(strategy, datamodule, query_size)

    # ------------------------------------------------------------- the ids

    def test_returns_query_size_ids(self):
        ids = self.run_query(make_datamodule())

        assert ids.shape == (self.query_size,)
        assert np.issubdtype(ids.dtype, np.integer)

    def test_returns_distinct_ids(self):
        ids = self.run_query(make_datamodule())

        assert np.unique(ids).size == ids.size

    def test_returns_only_pool_ids(self):
        datamodule = make_datamodule()

        ids = self.run_query(datamodule)

        outside = np.setdiff1d(ids, datamodule.pool_ids)
        assert outside.size == 0, f"ids outside the pool: {outside.tolist()}"

    def test_skips_labelled_ids(self):
        # Label exactly the ids the strategy picks on an unlabelled pool, so a
        # strategy that ignored the labels would pick them again.
        first_pick = self.run_query(make_datamodule(labelled=None))
        datamodule = make_datamodule(labelled=first_pick)

        ids = self.run_query(datamodule)

        assert np.intersect1d(ids, first_pick).size == 0

    def test_labels_nothing(self):
        datamodule = make_datamodule()
        rounds_before = datamodule.label_rounds

        self.run_query(datamodule)

        np.testing.assert_array_equal(datamodule.label_rounds, rounds_before)

    def test_numpy_integer_query_size(self):
        ids = self.run_query(make_datamodule(), query_size=np.int64(self.query_size))

        assert ids.shape == (self.query_size,)

    # ------------------------------------------- independence of the order

    def test_scrambling_collate_same_ids(self):
        expected = self.run_query(make_datamodule())

        ids = self.run_query(make_datamodule(pool_collate_fn=scrambling_pool_collate))

        np.testing.assert_array_equal(ids, expected)

    def test_shuffled_pool_loader_same_ids(self):
        expected = self.run_query(make_datamodule())

        ids = self.run_query(make_datamodule(datamodule_class=ShuffledPoolDataModule))

        np.testing.assert_array_equal(ids, expected)

    @pytest.mark.parametrize("batch_size", [1, 7, NUM_ITEMS])
    def test_pool_batch_size_same_ids(self, batch_size):
        expected = self.run_query(make_datamodule())

        ids = self.run_query(make_datamodule(eval_batch_size=batch_size))

        np.testing.assert_array_equal(ids, expected)

    def test_worker_processes_same_ids(self):
        expected = self.run_query(make_datamodule())

        ids = self.run_query(make_datamodule(num_workers=2))

        np.testing.assert_array_equal(ids, expected)

    def test_permuted_dataset_same_ids(self):
        if self.permutation_skip_reason is not None:
            pytest.skip(self.permutation_skip_reason)
        dataset = make_dataset()
        permutation = np.random.default_rng(5).permutation(NUM_ITEMS)
        features, targets = dataset.tensors
        permuted = TensorDataset(features[permutation], targets[permutation])
        # Item i of the original dataset is item position_of[i] of the permuted one.
        position_of = np.argsort(permutation)
        expected = self.run_query(make_datamodule(dataset))

        permuted_ids = self.run_query(make_datamodule(permuted, labelled=position_of[LABELLED_IDS]))

        np.testing.assert_array_equal(permutation[permuted_ids], expected)

    def test_same_seed_same_ids(self):
        first = self.run_query(make_datamodule(), strategy=self.new_strategy(seed=11))

        second = self.run_query(make_datamodule(), strategy=self.new_strategy(seed=11))

        np.testing.assert_array_equal(second, first)

    # ------------------------------------------------------- pool size

    def test_oversized_query_rejected(self):
        pool = np.array([3, 18, 40, 55])
        datamodule = make_datamodule(labelled=np.setdiff1d(np.arange(NUM_ITEMS), pool))
        message = "at most the 4 unlabelled items in the pool, received 10"

        with pytest.raises(InvalidArgumentError, match=re.escape(message)):
            self.run_query(datamodule, query_size=10)

    def test_whole_pool_query(self):
        pool = np.array([3, 18, 40, 55])
        datamodule = make_datamodule(labelled=np.setdiff1d(np.arange(NUM_ITEMS), pool))

        ids = self.run_query(datamodule, query_size=4)

        np.testing.assert_array_equal(np.sort(ids), pool)

    def test_whole_pool_query_no_warning(self):
        datamodule = make_datamodule()
        pool_size = datamodule.num_unlabelled

        with warnings.catch_warnings():
            warnings.filterwarnings("error", message="query_size=")
            ids = self.run_query(datamodule, query_size=pool_size)

        np.testing.assert_array_equal(np.sort(ids), datamodule.pool_ids)

    def test_empty_pool_raises(self):
        datamodule = make_datamodule(labelled=range(NUM_ITEMS))

        with pytest.raises(EmptyPoolError, match="all 60 items are labelled, so the pool is empty"):
            self.run_query(datamodule)

    @pytest.mark.parametrize(
        ("query_size", "shown"),
        [(0, "0"), (-1, "-1"), (2.5, "2.5"), (5.0, "5.0"), (True, "True"), (None, "None")],
    )
    def test_invalid_query_size_raises(self, query_size, shown):
        message = f"Invalid `query_size`: expected an integer >= 1, received {shown}."

        with pytest.raises(InvalidArgumentError, match=re.escape(message)):
            make_trainer().query(self.new_strategy(), make_datamodule(), query_size)

    # ------------------------------------------------ the model is untouched

    def test_model_weights_unchanged(self):
        strategy = self.new_strategy()
        before = {name: value.clone() for name, value in strategy.state_dict().items()}

        self.run_query(make_datamodule(), strategy=strategy)

        after = strategy.state_dict()
        assert after.keys() == before.keys()
        for name, value in before.items():
            assert torch.equal(after[name], value), f"{name} changed during the query"

    @pytest.mark.parametrize("mode", ["train", "eval", "mixed"])
    def test_module_modes_restored(self, mode):
        strategy = self.new_strategy()
        set_module_modes(strategy, mode)
        before = {name: module.training for name, module in strategy.named_modules()}

        self.run_query(make_datamodule(), strategy=strategy)

        after = {name: module.training for name, module in strategy.named_modules()}
        assert after == before

    def test_leaves_no_gradients(self):
        strategy = self.new_strategy()

        self.run_query(make_datamodule(), strategy=strategy)

        for name, parameter in strategy.named_parameters():
            assert parameter.grad is None, f"{name} has a gradient after the query"


class TestRandomStrategy(QueryStrategyContract):
    strategy_class = RandomStrategy
    permutation_skip_reason = (
        "RandomStrategy chooses among ids without reading the items, so permuting the items "
        "changes its choice"
    )

    def test_other_seed_other_ids(self):
        first = self.run_query(make_datamodule(), strategy=self.new_strategy(seed=0))

        second = self.run_query(make_datamodule(), strategy=self.new_strategy(seed=1))

        assert first.tolist() != second.tolist()

    def test_successive_queries_continue_stream(self):
        # One generator serves every query of a strategy, so two runs with the
        # same seed repeat the same sequence of queries, and a second query
        # does not repeat the first.
        strategy = self.new_strategy(seed=4)
        twin = self.new_strategy(seed=4)
        datamodule = make_datamodule()

        first = self.run_query(datamodule, strategy=strategy)
        second = self.run_query(datamodule, strategy=strategy)
        twin_first = self.run_query(datamodule, strategy=twin)
        twin_second = self.run_query(datamodule, strategy=twin)

        assert first.tolist() != second.tolist()
        np.testing.assert_array_equal(twin_first, first)
        np.testing.assert_array_equal(twin_second, second)


class TestEntropyStrategy(QueryStrategyContract):
    strategy_class = EntropyStrategy


class TestMarginStrategy(QueryStrategyContract):
    strategy_class = MarginStrategy


class TestLeastConfidenceStrategy(QueryStrategyContract):
    strategy_class = LeastConfidenceStrategy


class TestBALDStrategy(QueryStrategyContract):
    strategy_class = BALDStrategy


class TestBatchBALDStrategy(QueryStrategyContract):
    strategy_class = BatchBALDStrategy


class TestPredictiveEntropyStrategy(QueryStrategyContract):
    strategy_class = PredictiveEntropyStrategy


class TestExpectedEntropyStrategy(QueryStrategyContract):
    strategy_class = ExpectedEntropyStrategy


class TestVariationRatiosStrategy(QueryStrategyContract):
    strategy_class = VariationRatiosStrategy


class TestMeanStdStrategy(QueryStrategyContract):
    strategy_class = MeanStdStrategy


STOCHASTIC_SKIP = (
    "stochastic selection draws its noise in dataset-id order, so permuting the items "
    "gives them other noise"
)


class TestPowerBALDStrategy(QueryStrategyContract):
    strategy_class = PowerBALDStrategy
    permutation_skip_reason = STOCHASTIC_SKIP

    def test_other_seed_other_ids(self):
        first = self.run_query(make_datamodule(), strategy=self.new_strategy(seed=0))

        second = self.run_query(make_datamodule(), strategy=self.new_strategy(seed=1))

        assert first.tolist() != second.tolist()


class TestSoftmaxBALDStrategy(TestPowerBALDStrategy):
    strategy_class = SoftmaxBALDStrategy


class TestSoftRankBALDStrategy(TestPowerBALDStrategy):
    strategy_class = SoftRankBALDStrategy


class TestCoresetStrategy(QueryStrategyContract):
    strategy_class = CoresetStrategy


CLUSTERING_SKIP = (
    "k-means draws its initial centers by position in dataset-id order, so permuting the "
    "items can change the clusters"
)


class TestBADGEStrategy(QueryStrategyContract):
    strategy_class = BADGEStrategy
    permutation_skip_reason = "k-means++ draws its points by position in dataset-id order"

    def test_other_seed_other_ids(self):
        first = self.run_query(make_datamodule(), strategy=self.new_strategy(seed=0))

        second = self.run_query(make_datamodule(), strategy=self.new_strategy(seed=1))

        assert first.tolist() != second.tolist()


class TestTypiClustStrategy(QueryStrategyContract):
    strategy_class = TypiClustStrategy
    permutation_skip_reason = CLUSTERING_SKIP


class TestClusterMarginStrategy(QueryStrategyContract):
    strategy_class = ClusterMarginStrategy
    permutation_skip_reason = CLUSTERING_SKIP


class TestSubpoolEntropyStrategy(QueryStrategyContract):
    """Entropy sampling on a random sub-pool of 20 of the 54 pool items."""

    strategy_class = EntropyStrategy
    permutation_skip_reason = "the sub-pool is drawn by position in dataset-id order"
    subpool_size: ClassVar[int] = 20

    def new_strategy(self, *, seed: int = 0, model_seed: int = 0) -> QueryStrategy:
        return self.strategy_class(SeededClassifier(model_seed), seed=seed, subpool_size=self.subpool_size)

    def test_whole_pool_query_no_warning(self):
        # A query larger than the sub-pool cannot be chosen from it.
        message = "Invalid `subpool_size`: expected at least query_size=54"

        with pytest.raises(InvalidArgumentError, match=re.escape(message)):
            self.run_query(make_datamodule(), query_size=54)


class TestSubpoolCoresetStrategy(TestSubpoolEntropyStrategy):
    strategy_class = CoresetStrategy


# ---------------------------------------------------- checks of the setup


def _all_subclasses(cls: type) -> list[type]:
    direct = cls.__subclasses__()
    return direct + [grandchild for child in direct for grandchild in _all_subclasses(child)]


def test_every_registered_strategy_has_contract():
    covered = {contract.strategy_class for contract in _all_subclasses(QueryStrategyContract)}

    for name, strategy_class in STRATEGIES.items():
        assert strategy_class in covered, f"add a QueryStrategyContract subclass for {name!r}"


@pytest.mark.parametrize("score", [entropy, margin, least_confidence], ids=lambda f: f.__name__)
def test_pool_scores_are_separated(score):
    # Order checks compare rankings exactly, so no two scores may be close
    # enough for rounding in another batch layout to swap them.
    model = SeededClassifier(0).eval()
    with torch.no_grad():
        scores = score(model(make_dataset().tensors[0])).numpy()

    assert np.diff(np.sort(scores)).min() > 1e-5


@pytest.mark.parametrize(
    "datamodule_options",
    [{"pool_collate_fn": scrambling_pool_collate}, {"datamodule_class": ShuffledPoolDataModule}],
    ids=["scrambling-collate", "shuffled-loader"],
)
def test_reordering_loaders_change_order(datamodule_options):
    datamodule = make_datamodule(**datamodule_options)

    order = loader_id_order(datamodule)

    assert order != sorted(order)
    assert sorted(order) == datamodule.pool_ids.tolist()
