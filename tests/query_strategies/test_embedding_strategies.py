"""Embedding capture, BADGE's gradient embedding, the labelled pass and sub-pools."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest
import torch
from strategy_helpers import NUM_FEATURES, NUM_ITEMS, IdentityModel, SeededClassifier, make_dataset, make_trainer
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import TensorDataset

from energizer import ActiveDataModule
from energizer.diversity import k_center_greedy, kmeans_plus_plus
from energizer.errors import InvalidArgumentError, InvalidScoresError
from energizer.query_strategies import (
    BADGEStrategy,
    ClusterMarginStrategy,
    CoresetStrategy,
    EntropyStrategy,
    ModelOutput,
    PredictPass,
    RandomStrategy,
    TypiClustStrategy,
)
from energizer.query_strategies.embeddings import gradient_embedding, gradient_embedding_factors

EMBEDDING_STRATEGIES = [CoresetStrategy, BADGEStrategy, TypiClustStrategy, ClusterMarginStrategy]
LABELLED_IDS = [0, 7, 13, 21, 34, 59]


def make_datamodule(dataset: Any = None, labelled: Any = LABELLED_IDS, **kwargs: Any) -> ActiveDataModule:
    kwargs.setdefault("eval_batch_size", 8)
    return ActiveDataModule(
        dataset if dataset is not None else make_dataset(),
        initial_labels=None if labelled is None else list(labelled),
        **kwargs,
    )


def hidden_features(model: SeededClassifier, features: Tensor) -> Tensor:
    """The input of the classifier's last Linear, computed by hand in eval mode."""
    model.eval()
    with torch.no_grad():
        return model.net[:4](features)


class InputEmbeddingCoreset(CoresetStrategy):
    """Coreset on the raw inputs, for a model without a Linear layer."""

    def get_embeddings(self, inputs: Tensor) -> Tensor:
        return inputs.float()


class CountingEntropy(EntropyStrategy):
    """Entropy sampling that records how many items each pool pass scored."""

    def on_predict_epoch_start(self) -> None:
        super().on_predict_epoch_start()
        self.scored = 0

    def pool_step(self, batch: Any, batch_idx: int) -> Tensor:
        self.scored += batch[0].shape[0]
        return super().pool_step(batch, batch_idx)


# ---------------------------------------------------- gradient embedding


@pytest.mark.parametrize("seed", range(3))
def test_gradient_embedding_matches_autograd(seed):
    generator = torch.Generator().manual_seed(seed)
    layer = nn.Linear(6, 4).double()
    with torch.no_grad():
        for parameter in layer.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=torch.float64))
    embeddings = torch.randn(10, 6, generator=generator, dtype=torch.float64)
    logits = layer(embeddings).detach()

    closed_form = gradient_embedding(embeddings, logits)

    for row in range(embeddings.shape[0]):
        layer.zero_grad()
        output = layer(embeddings[row : row + 1])
        F.cross_entropy(output, output.argmax(dim=1)).backward()
        torch.testing.assert_close(closed_form[row], layer.weight.grad.flatten())


def test_gradient_factors_sum_to_zero():
    logits = torch.randn(20, 5, generator=torch.Generator().manual_seed(0))

    factors = gradient_embedding_factors(logits)

    torch.testing.assert_close(factors.sum(dim=1), torch.zeros(20), atol=1e-6, rtol=0)
    assert (factors.gather(1, logits.argmax(dim=1, keepdim=True)) < 0).all()


def test_gradient_factors_with_impossible_class():
    logits = torch.tensor([[2.0, float("-inf"), 0.0]])

    factors = gradient_embedding_factors(logits)

    assert torch.isfinite(factors).all()
    assert factors[0, 1] == 0.0


# ------------------------------------------------------- embedding capture


def test_default_embedding_is_last_linear_input():
    model = SeededClassifier(0)
    strategy = CoresetStrategy(model)
    datamodule = make_datamodule()
    make_trainer().query(strategy, datamodule, 3)

    stored = strategy.pool_features(datamodule.pool_ids)["embeddings"]

    features = make_dataset().tensors[0][torch.from_numpy(datamodule.pool_ids)]
    torch.testing.assert_close(stored, hidden_features(model, features))


def test_coreset_covers_from_labelled_embeddings():
    model = SeededClassifier(0)
    datamodule = make_datamodule()
    features = hidden_features(SeededClassifier(0), make_dataset().tensors[0])
    pool_ids = datamodule.pool_ids
    expected = pool_ids[
        k_center_greedy(features[torch.from_numpy(pool_ids)], 5, centers=features[LABELLED_IDS]).numpy()
    ]

    ids = make_trainer().query(CoresetStrategy(model), datamodule, 5)

    np.testing.assert_array_equal(ids, expected)


def test_badge_matches_dense_gradient_embedding():
    model = SeededClassifier(0)
    strategy = BADGEStrategy(model, seed=3)
    datamodule = make_datamodule()
    features = make_dataset().tensors[0][torch.from_numpy(datamodule.pool_ids)]
    hidden = hidden_features(SeededClassifier(0), features)
    logits = SeededClassifier(0).eval()(features).detach()

    ids = make_trainer().query(strategy, datamodule, 6)

    expected = kmeans_plus_plus(gradient_embedding(hidden, logits), 6, seed=strategy.round_seed(stream=1))
    np.testing.assert_array_equal(ids, datamodule.pool_ids[expected.numpy()])


@pytest.mark.parametrize("strategy_class", EMBEDDING_STRATEGIES)
def test_model_without_linear_raises(strategy_class):
    message = (
        "Invalid `model`: expected a model with a torch.nn.Linear layer, whose input "
        f"{strategy_class.__name__} uses as the embedding, received a IdentityModel without one. "
        f"Override get_embeddings(inputs) in a subclass of {strategy_class.__name__}"
    )

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        make_trainer().active_fit(strategy_class(IdentityModel()), make_datamodule(), query_size=5)


def test_get_embeddings_override_without_linear():
    dataset = make_dataset()
    datamodule = make_datamodule(dataset)
    pool_ids = datamodule.pool_ids
    inputs = dataset.tensors[0]
    expected = pool_ids[
        k_center_greedy(inputs[torch.from_numpy(pool_ids)], 4, centers=inputs[LABELLED_IDS]).numpy()
    ]

    ids = make_trainer().query(InputEmbeddingCoreset(IdentityModel()), datamodule, 4)

    np.testing.assert_array_equal(ids, expected)


class UnusedLastLinear(SeededClassifier):
    def __init__(self) -> None:
        super().__init__(0)
        self.unused = nn.Linear(3, 3)


class SequenceHead(nn.Module):
    """Logits from a Linear over a (B, 2, 4) input, averaged over the middle axis."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(NUM_FEATURES // 2, 3)

    def forward(self, features: Tensor) -> Tensor:
        return self.head(features.reshape(features.shape[0], 2, -1)).mean(dim=1)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (UnusedLastLinear(), "The model's last torch.nn.Linear ('unused') did not run on a tensor"),
        (SequenceHead(), "The input of the model's last torch.nn.Linear ('head') has shape (6, 2, 2)"),
    ],
    ids=["unused", "3-d input"],
)
def test_unusable_last_linear_raises(model, message):
    with pytest.raises(InvalidScoresError, match=re.escape(message)):
        make_trainer().query(CoresetStrategy(model), make_datamodule(), 3)


@pytest.mark.parametrize("strategy_class", EMBEDDING_STRATEGIES)
def test_declares_embeddings(strategy_class):
    assert strategy_class.requires == frozenset({ModelOutput.EMBEDDINGS})


@pytest.mark.parametrize(
    ("strategy_class", "needs_labelled_pass"),
    [(CoresetStrategy, True), (TypiClustStrategy, True), (BADGEStrategy, False), (ClusterMarginStrategy, False)],
)
def test_declares_labelled_pass(strategy_class, needs_labelled_pass):
    assert strategy_class.needs_labelled_pass is needs_labelled_pass


# ----------------------------------------------------------- duplicates


@pytest.mark.parametrize("strategy_class", EMBEDDING_STRATEGIES)
def test_duplicated_items_distinct_ids(strategy_class):
    # Four distinct items, each repeated 15 times.
    features, targets = make_dataset().tensors
    dataset = TensorDataset(features[:4].repeat(15, 1), targets[:4].repeat(15))
    datamodule = make_datamodule(dataset, labelled=[0, 1])

    ids = make_trainer().query(strategy_class(SeededClassifier(0), seed=0), datamodule, 12)

    assert np.unique(ids).size == 12
    assert np.intersect1d(ids, [0, 1]).size == 0


# ------------------------------------------------------- labelled pass


def test_labelled_pass_embeds_every_labelled_item():
    strategy = CoresetStrategy(SeededClassifier(0))
    datamodule = make_datamodule(val_fraction=0.4)

    make_trainer().query(strategy, datamodule, 3)

    labelled = strategy.labelled_features(datamodule.pool_ids)
    assert labelled["embeddings"].shape == (len(LABELLED_IDS), 8)


def test_labelled_features_reset_when_nothing_labelled():
    strategy = CoresetStrategy(SeededClassifier(0), seed=0)
    make_trainer().query(strategy, make_datamodule(), 3)
    empty = make_datamodule(labelled=None)

    make_trainer().query(strategy, empty, 3)

    assert strategy.labelled_features(empty.pool_ids) is None


def test_configure_pool_sets_pass():
    strategy = CoresetStrategy(SeededClassifier(0))

    strategy.configure_pool(target_key=None, round_index=2, predict_pass=PredictPass.LABELLED)

    assert strategy.predict_pass is PredictPass.LABELLED
    assert strategy.round_index == 2


# ------------------------------------------------------------- sub-pool


def test_subpool_ids_sorted_subset():
    strategy = EntropyStrategy(SeededClassifier(0), seed=0, subpool_size=10)
    pool_ids = np.arange(5, 105)

    candidates = strategy.candidate_ids(pool_ids)

    assert candidates.size == 10
    assert np.all(np.diff(candidates) > 0)
    assert np.isin(candidates, pool_ids).all()


def test_subpool_same_round_same_ids():
    pool_ids = np.arange(100)
    first = EntropyStrategy(SeededClassifier(0), seed=4, subpool_size=10)
    second = EntropyStrategy(SeededClassifier(0), seed=4, subpool_size=10)

    np.testing.assert_array_equal(first.candidate_ids(pool_ids), second.candidate_ids(pool_ids))


def test_subpool_changes_with_round():
    strategy = EntropyStrategy(SeededClassifier(0), seed=4, subpool_size=10)
    pool_ids = np.arange(100)
    first = strategy.candidate_ids(pool_ids)

    strategy.configure_pool(target_key=None, round_index=1)

    assert strategy.candidate_ids(pool_ids).tolist() != first.tolist()


def test_subpool_larger_than_pool_takes_pool():
    strategy = EntropyStrategy(SeededClassifier(0), subpool_size=500)
    pool_ids = np.arange(100)

    np.testing.assert_array_equal(strategy.candidate_ids(pool_ids), pool_ids)


def test_subpool_bounds_pool_pass():
    strategy = CountingEntropy(SeededClassifier(0), seed=0, subpool_size=20)
    datamodule = make_datamodule()

    ids = make_trainer().query(strategy, datamodule, 5)

    assert strategy.scored == 20
    assert np.isin(ids, strategy.candidate_ids(datamodule.pool_ids)).all()


def test_subpool_random_strategy_draws_from_subpool():
    strategy = RandomStrategy(SeededClassifier(0), seed=0, subpool_size=8)
    datamodule = make_datamodule()

    ids = make_trainer().query(strategy, datamodule, 8)

    np.testing.assert_array_equal(np.sort(ids), strategy.candidate_ids(datamodule.pool_ids))


@pytest.mark.parametrize(("value", "shown"), [(0, "0"), (-3, "-3"), (2.5, "2.5"), (True, "True")])
def test_invalid_subpool_size_raises(value, shown):
    message = f"Invalid `subpool_size`: expected a positive integer or None, received {shown}."

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        CoresetStrategy(SeededClassifier(0), subpool_size=value)


def test_subpool_smaller_than_query_raises_before_fit():
    strategy = BADGEStrategy(SeededClassifier(0), subpool_size=4)
    message = "Invalid `subpool_size`: expected at least query_size=5"

    with pytest.raises(InvalidArgumentError, match=re.escape(message)):
        make_trainer().active_fit(strategy, make_datamodule(), query_size=5)


# ------------------------------------------------------------ active_fit


class TrainableClassifier(SeededClassifier):
    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        features, targets = batch
        return F.cross_entropy(self(features), targets)

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.01)


@pytest.mark.parametrize("strategy_class", EMBEDDING_STRATEGIES)
def test_active_fit_labels_distinct_items(strategy_class):
    datamodule = make_datamodule(batch_size=16)
    strategy = strategy_class(TrainableClassifier(0), seed=0, subpool_size=30)
    trainer = make_trainer()
    trainer_kwargs = {"query_size": 5, "max_rounds": 3}

    results = trainer.active_fit(strategy, datamodule, **trainer_kwargs)

    queried = np.concatenate([record.queried_ids for record in results.rounds])
    assert queried.size == 10
    assert np.unique(queried).size == 10
    assert datamodule.num_labelled == len(LABELLED_IDS) + 10
    assert NUM_ITEMS - datamodule.num_unlabelled == datamodule.num_labelled
