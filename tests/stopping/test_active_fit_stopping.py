"""active_fit stops on each criterion, with its reason and message in the results."""

from __future__ import annotations

import json

import lightning.pytorch as pl
import pytest
import torch
from torch.utils.data import TensorDataset

import energizer
from energizer.errors import InvalidArgumentError
from energizer.models import MLPClassifier
from energizer.query_strategies import EntropyStrategy
from energizer.results import StopReason
from energizer.stopping import NoImprovement, OverallUncertainty, StabilizingPredictions, Stop, StoppingCriterion


def make_dataset(num_items: int) -> TensorDataset:
    generator = torch.Generator().manual_seed(0)
    targets = torch.arange(num_items) % 3
    return TensorDataset(torch.eye(3, 4)[targets] + torch.randn(num_items, 4, generator=generator), targets)


def fit(stopping, learning_rate: float = 0.0, max_rounds: int = 6, **kwargs):
    pl.seed_everything(0, verbose=False)
    datamodule = energizer.ActiveDataModule(
        make_dataset(80), test_dataset=make_dataset(20), initial_labels=6, batch_size=8, **kwargs
    )
    strategy = EntropyStrategy(MLPClassifier(4, 3, hidden_sizes=(8,), learning_rate=learning_rate))
    trainer = energizer.Trainer(
        max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
    )
    return trainer.active_fit(strategy, datamodule, query_size=4, max_rounds=max_rounds, stopping=stopping)


def test_stabilizing_predictions_stop_run():
    # A learning rate of 0 keeps the predictions: kappa 1 from round 1 on.
    results = fit([StabilizingPredictions(window=2, stop_set_size=30)])

    assert results.stop_reason is StopReason.STABLE_PREDICTIONS
    assert len(results) == 3
    assert "30 stop-set items" in results.stop_message
    assert results.rounds[-1].queried_ids.size == 0


def test_overall_uncertainty_stops_run():
    results = fit([OverallUncertainty(threshold=10.0, stop_set_size=25)])

    assert results.stop_reason is StopReason.LOW_UNCERTAINTY
    assert len(results) == 1


def test_no_improvement_on_validation_metric_stops_run():
    # A fixed validation set and a learning rate of 0: no round improves on round 0.
    results = fit([NoImprovement("val_accuracy", patience=2)], val_dataset=make_dataset(20))

    assert results.stop_reason is StopReason.NO_IMPROVEMENT
    assert len(results) == 3
    assert "val_accuracy has not improved" in results.stop_message


def test_limits_come_first():
    results = fit([NoImprovement("test_accuracy", patience=5)], max_rounds=2)

    assert results.stop_reason is StopReason.MAX_ROUNDS


class StopAtLabels(StoppingCriterion):
    def __init__(self, count: int) -> None:
        self.count = count

    def update(self, evidence):
        if evidence.num_labelled >= self.count:
            return Stop(StopReason.CRITERION, f"Stopped: {evidence.num_labelled} labels are enough.")
        return None


def test_user_criterion_stops_run():
    results = fit([StopAtLabels(14)], learning_rate=1e-2)

    assert results.stop_reason is StopReason.CRITERION
    assert results.stop_message == "Stopped: 14 labels are enough."
    assert [record.num_labelled for record in results] == [6, 10, 14]


def test_criteria_state_is_saved(tmp_path):
    pl.seed_everything(0, verbose=False)
    datamodule = energizer.ActiveDataModule(make_dataset(80), initial_labels=6, batch_size=8)
    strategy = EntropyStrategy(MLPClassifier(4, 3, hidden_sizes=(8,), learning_rate=1e-2))
    trainer = energizer.Trainer(max_epochs=1, accelerator="cpu", logger=False, enable_checkpointing=False,
                                enable_progress_bar=False, enable_model_summary=False)
    criterion = StabilizingPredictions(threshold=1.0, window=5, stop_set_size=20)

    trainer.active_fit(strategy, datamodule, query_size=4, max_rounds=3, stopping=[criterion], run_dir=tmp_path / "run")

    state = json.loads((tmp_path / "run" / "state.json").read_text())
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert len(state["stop_set_ids"]) == 20
    assert state["stopping"][-1]["kappas"] == pytest.approx(criterion.kappas)
    # The round limit stops round 2 before the criterion is updated, so one kappa, from round 1.
    assert len(criterion.kappas) == 1
    assert config["loop"]["stopping"] == ["StabilizingPredictions(threshold=1.0, window=5, stop_set_size=20)"]


@pytest.mark.parametrize("stopping", [[NoImprovement], "patience", [3]], ids=["class", "string", "number"])
def test_bad_stopping_rejected_before_training(stopping):
    with pytest.raises(InvalidArgumentError, match="Invalid `stopping`: expected a list of energizer.stopping criteria"):
        fit(stopping)


def test_criterion_object_serves_two_runs():
    criterion = NoImprovement("test_accuracy", patience=2)

    first = fit([criterion])
    second = fit([criterion])

    assert [record.metrics for record in second] == [record.metrics for record in first]
    assert len(second) == len(first) == 3


def test_same_criterion_twice_rejected():
    criterion = NoImprovement("test_accuracy", patience=2)

    with pytest.raises(InvalidArgumentError, match="a list with the same criterion object twice"):
        fit([criterion, criterion])
