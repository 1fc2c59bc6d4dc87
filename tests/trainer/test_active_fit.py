"""Trainer.active_fit on real Lightning trainers: rounds, resets, stop reasons and errors."""

from __future__ import annotations

import threading

import numpy as np
import pandas as pd
import pytest
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger
from loop_helpers import RecordingClassifier, make_dataset, quiet_trainer
from torch.nn import functional as F
from torch.utils.data import Dataset

import energizer
from energizer.errors import DatasetChangedError, InvalidArgumentError, InvalidScoresError
from energizer.query_strategies import EntropyStrategy, QueryStrategy, RandomStrategy


@pytest.fixture
def model() -> RecordingClassifier:
    torch.manual_seed(0)
    return RecordingClassifier()


def make_datamodule(num_items: int = 60, initial_labels: int = 6, **kwargs) -> energizer.ActiveDataModule:
    return energizer.ActiveDataModule(
        make_dataset(num_items),
        test_dataset=make_dataset(30, seed=1),
        batch_size=8,
        initial_labels=initial_labels,
        seed=0,
        **kwargs,
    )


# ---------------------------------------------------------------- each round


@pytest.mark.parametrize("max_epochs", [1, 3])
def test_every_round_trains_max_epochs(model, max_epochs):
    results = quiet_trainer(max_epochs=max_epochs).active_fit(
        EntropyStrategy(model), make_datamodule(), query_size=6, max_rounds=3
    )
    assert len(results) == 3
    assert model.epochs_per_fit == [max_epochs] * 3


def test_every_round_trains_max_steps(model):
    steps: list[int] = []

    class CountSteps(Callback):
        def on_train_end(self, trainer, pl_module):
            steps.append(trainer.global_step)

    trainer = quiet_trainer(max_steps=4, callbacks=[CountSteps()])
    trainer.active_fit(EntropyStrategy(model), make_datamodule(), query_size=6, max_rounds=3)
    assert steps == [4, 4, 4]


def test_reinit_restores_initial_weights(model):
    initial = {name: value.clone() for name, value in model.state_dict().items()}
    quiet_trainer(max_epochs=2).active_fit(EntropyStrategy(model), make_datamodule(), query_size=6, max_rounds=3)
    for weights in model.weights_at_fit_start:
        for name, value in initial.items():
            assert torch.equal(weights[name], value), name
    assert not torch.equal(model.layer.weight, initial["layer.weight"])


def test_warm_start_keeps_weights(model):
    quiet_trainer(max_epochs=2).active_fit(
        EntropyStrategy(model), make_datamodule(), query_size=6, max_rounds=2, reinit_model=False
    )
    first, second = model.weights_at_fit_start
    assert not torch.equal(first["layer.weight"], second["layer.weight"])


def test_fresh_optimizer_and_scheduler(model):
    quiet_trainer(max_epochs=3).active_fit(EntropyStrategy(model), make_datamodule(), query_size=6, max_rounds=3)
    assert model.optimizer_state_sizes == [0, 0, 0]
    assert model.scheduler_epochs_at_start == [0, 0, 0]


class ScriptedValidationLoss(RecordingClassifier):
    """Logs a val_loss that starts at ``base_losses[fit]`` and falls by 0.01 an epoch."""

    base_losses = (0.1, 10.0)

    def validation_step(self, batch, batch_idx):
        base = self.base_losses[len(self.epochs_per_fit) - 1]
        self.log("val_loss", base - 0.01 * self.current_epoch)


def test_early_stopping_judges_each_round(tmp_path):
    torch.manual_seed(0)
    model = ScriptedValidationLoss()
    # Round 1's losses all lie above round 0's best, but keep improving: an
    # early stopping that remembered round 0 would stop round 1 after 3 epochs.
    trainer = quiet_trainer(
        max_epochs=6,
        callbacks=[EarlyStopping(monitor="val_loss", patience=2)],
        num_sanity_val_steps=0,
    )
    datamodule = make_datamodule(val_fraction=0.3)
    trainer.active_fit(EntropyStrategy(model), datamodule, query_size=6, max_rounds=2)
    assert model.epochs_per_fit == [6, 6]


def test_checkpoint_judges_each_round(tmp_path):
    torch.manual_seed(0)
    model = ScriptedValidationLoss()
    checkpoint = ModelCheckpoint(dirpath=tmp_path, monitor="val_loss", save_top_k=1)
    trainer = quiet_trainer(
        max_epochs=3, enable_checkpointing=True, callbacks=[checkpoint], num_sanity_val_steps=0
    )
    trainer.active_fit(EntropyStrategy(model), make_datamodule(val_fraction=0.3), query_size=6, max_rounds=2)
    best = trainer.round_trainer.checkpoint_callback.best_model_score
    assert best == pytest.approx(10.0 - 0.02)
    assert checkpoint.best_model_path == ""


# ------------------------------------------------------------ stop reasons


def test_stops_at_max_rounds(model):
    results = quiet_trainer(max_epochs=1).active_fit(
        EntropyStrategy(model), make_datamodule(), query_size=5, max_rounds=4
    )
    frame = results.to_pandas()
    assert results.stop_reason is energizer.StopReason.MAX_ROUNDS
    assert frame["round"].tolist() == [0, 1, 2, 3]
    assert frame["num_labelled"].tolist() == [6, 11, 16, 21]
    assert frame["num_queried"].tolist() == [5, 5, 5, 0]


def test_stops_at_max_budget(model):
    datamodule = make_datamodule()
    results = quiet_trainer(max_epochs=1).active_fit(
        EntropyStrategy(model), datamodule, query_size=10, max_budget=30
    )
    assert results.stop_reason is energizer.StopReason.MAX_BUDGET
    assert results.to_pandas()["num_labelled"].tolist() == [6, 16, 26, 30]
    assert datamodule.num_labelled == 30
    assert "max_budget=30" in results.stop_message


def test_stops_on_exhausted_pool(model):
    datamodule = make_datamodule(num_items=20)
    results = quiet_trainer(max_epochs=1).active_fit(EntropyStrategy(model), datamodule, query_size=7)
    assert results.stop_reason is energizer.StopReason.POOL_EXHAUSTED
    assert results.to_pandas()["num_labelled"].tolist() == [6, 13, 20]
    assert datamodule.num_unlabelled == 0


def test_query_larger_than_pool_rejected(model):
    datamodule = make_datamodule(num_items=20)

    with pytest.raises(InvalidArgumentError, match=r"at most the 14 unlabelled items in the pool, received 50"):
        quiet_trainer(max_epochs=1).active_fit(EntropyStrategy(model), datamodule, query_size=50)

    assert model.epochs_per_fit == []


def test_last_query_takes_the_rest(model):
    datamodule = make_datamodule(num_items=20)

    results = quiet_trainer(max_epochs=1).active_fit(EntropyStrategy(model), datamodule, query_size=8)

    assert results.to_pandas()["num_labelled"].tolist() == [6, 14, 20]
    assert results.stop_reason is energizer.StopReason.POOL_EXHAUSTED


def test_rounds_record_labels_and_metrics(model):
    datamodule = make_datamodule()
    results = quiet_trainer(max_epochs=2).active_fit(
        EntropyStrategy(model), datamodule, query_size=5, max_rounds=3
    )
    frame = results.to_pandas()
    assert {"test_accuracy", "fit_seconds", "test_seconds", "query_seconds", "queried_ids"} <= set(frame)
    for record in results.rounds[:-1]:
        assert (datamodule.label_rounds[record.queried_ids] == record.round + 1).all()
    assert frame["fit_seconds"].gt(0).all()


def test_round_metrics_reach_loggers(model, tmp_path):
    trainer = quiet_trainer(max_epochs=1, logger=CSVLogger(tmp_path, name="run"))
    trainer.active_fit(EntropyStrategy(model), make_datamodule(), query_size=5, max_rounds=3)
    metrics = pd.read_csv(next(tmp_path.rglob("metrics.csv")))
    rounds = metrics.dropna(subset=["active/num_labelled"])
    assert rounds["step"].tolist() == [6, 11, 16]
    assert rounds["active/num_labelled"].tolist() == [6, 11, 16]
    assert rounds["active/test_accuracy"].notna().all()


def test_query_labels_nothing(model):
    datamodule = make_datamodule()
    before = datamodule.label_rounds
    ids = quiet_trainer(max_epochs=1).query(EntropyStrategy(model), datamodule, query_size=4)
    assert ids.shape == (4,)
    assert np.array_equal(datamodule.label_rounds, before)


# ----------------------------------------------------------- invalid input


def fit_with(model, **overrides):
    arguments = dict(
        strategy=EntropyStrategy(model), datamodule=make_datamodule(), query_size=5, max_rounds=2
    )
    arguments.update(overrides)
    strategy = arguments.pop("strategy")
    datamodule = arguments.pop("datamodule")
    return quiet_trainer(max_epochs=1).active_fit(strategy, datamodule, **arguments)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"query_size": 0}, r"Invalid `query_size`: expected an integer >= 1, received 0"),
        ({"query_size": -3}, r"Invalid `query_size`: expected an integer >= 1, received -3"),
        ({"query_size": 2.5}, r"Invalid `query_size`: expected an integer >= 1, received 2.5"),
        ({"query_size": True}, r"Invalid `query_size`: expected an integer >= 1, received True"),
        ({"max_rounds": 0}, r"Invalid `max_rounds`: expected an integer >= 1, received 0"),
        ({"max_budget": 3}, r"Invalid `max_budget`: expected at least the 6 items already labelled"),
        ({"strategy": "entropy"}, r"Invalid `strategy`: expected a QueryStrategy"),
        ({"datamodule": make_dataset(10)}, r"Invalid `datamodule`: expected an energizer.ActiveDataModule"),
    ],
)
def test_invalid_arguments_raise_before_training(model, overrides, message):
    with pytest.raises(InvalidArgumentError, match=message):
        fit_with(model, **overrides)
    assert model.epochs_per_fit == []


def test_no_labelled_items_raise(model):
    datamodule = energizer.ActiveDataModule(make_dataset(20))
    with pytest.raises(InvalidArgumentError, match=r"no labelled item.*initial_labels="):
        quiet_trainer(max_epochs=1).active_fit(EntropyStrategy(model), datamodule, query_size=5)
    assert model.epochs_per_fit == []


class NaNScores(QueryStrategy):
    def pool_step(self, batch, batch_idx):
        scores = torch.ones(len(batch[0]))
        if batch_idx == 0:
            scores[:2] = float("nan")
        return scores


def test_nan_scores_name_round_and_count(model):
    datamodule = make_datamodule(num_items=20)
    before = datamodule.label_rounds
    with pytest.raises(InvalidScoresError, match=r"returned 2 NaN or infinite scores out of 14 pool items in round 0"):
        quiet_trainer(max_epochs=1).active_fit(NaNScores(model), datamodule, query_size=5)
    assert np.array_equal(datamodule.label_rounds, before)


class DivergedClassifier(RecordingClassifier):
    def forward(self, inputs):
        logits = super().forward(inputs)
        return torch.where(inputs[:, :1] > 1.0, torch.nan, logits)


def test_nan_logits_name_round():
    torch.manual_seed(0)
    with pytest.raises(InvalidScoresError, match=r"NaN or \+inf logits for \d+ of \d+ items .* round 0"):
        quiet_trainer(max_epochs=1).active_fit(
            EntropyStrategy(DivergedClassifier()), make_datamodule(), query_size=5
        )


class GrowingDataset(Dataset):
    def __init__(self, base):
        self.items = [base[i] for i in range(len(base))]

    def __len__(self):
        return len(self.items)

    def __getitem__(self, index):
        return self.items[index]


def test_changed_dataset_length_raises(model):
    dataset = GrowingDataset(make_dataset(30))
    datamodule = energizer.ActiveDataModule(dataset, initial_labels=5, seed=0)

    def add_item(record):
        dataset.items.append(dataset.items[0])

    with pytest.raises(DatasetChangedError, match=r"The dataset has 31 items but .* built for 30"):
        quiet_trainer(max_epochs=1).active_fit(
            EntropyStrategy(model), datamodule, query_size=5, max_rounds=3, on_round_end=add_item
        )


class HoldsLock(Callback):
    def __init__(self):
        self.lock = threading.Lock()


def test_uncopyable_callback_raises():
    with pytest.raises(InvalidArgumentError, match=r"Invalid `callbacks`: .* HoldsLock that failed to copy"):
        quiet_trainer(callbacks=[HoldsLock()])


def test_random_strategy_runs_no_pool_pass(model):
    calls: list[int] = []

    class CountPredict(Callback):
        def on_predict_start(self, trainer, pl_module):
            calls.append(1)

    trainer = quiet_trainer(max_epochs=1, callbacks=[CountPredict()])
    trainer.active_fit(RandomStrategy(model, seed=0), make_datamodule(), query_size=5, max_rounds=3)
    assert calls == []


def test_training_uses_labelled_items_only(model):
    seen: set[int] = set()
    datamodule = energizer.ActiveDataModule(
        make_dataset(40), initial_labels=[0, 1, 2, 3], batch_size=4, seed=0
    )
    features = datamodule.train_dataset.tensors[0]

    class RecordInputs(RecordingClassifier):
        def training_step(self, batch, batch_idx):
            inputs, targets = batch
            for row in inputs:
                seen.add(int(torch.nonzero((features == row).all(dim=1))[0]))
            return F.cross_entropy(self(inputs), targets)

    torch.manual_seed(0)
    results = quiet_trainer(max_epochs=1).active_fit(
        EntropyStrategy(RecordInputs()), datamodule, query_size=3, max_rounds=2
    )
    assert seen == set(range(4)) | set(results[0].queried_ids.tolist())


@pytest.mark.parametrize("limit", [0.5, 1, 3])
def test_partial_predict_limit_rejected_before_training(model, limit):
    trainer = quiet_trainer(max_epochs=1, limit_predict_batches=limit)

    with pytest.raises(InvalidArgumentError, match=f"limit_predict_batches.*received {limit!r}"):
        trainer.active_fit(EntropyStrategy(model), make_datamodule(), query_size=4, max_rounds=2)

    assert model.epochs_per_fit == []
