"""Resume compares the trainer's training limits, the model's hyperparameters and an explicit seed."""

from __future__ import annotations

import json

import pytest
from run_helpers import make_run

from energizer.errors import InvalidArgumentError
from energizer.loop.run_config import config_differences, seed_differences

SEED = 3
LOOP = {"query_size": 5, "max_rounds": 3}


@pytest.fixture
def saved_run(tmp_path):
    """The folder of a three-round run with ``seed=SEED``, trained two epochs a round."""
    strategy, datamodule, trainer = make_run()
    run_dir = tmp_path / "run"
    trainer.active_fit(strategy, datamodule, run_dir=run_dir, seed=SEED, **LOOP)
    return run_dir


def snapshot(folder):
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.mark.parametrize(
    ("build", "difference"),
    [
        ({"trainer_options": {"max_epochs": 3}}, "trainer.max_epochs: saved 2, now 3"),
        ({"trainer_options": {"max_steps": 4}}, "trainer.max_steps: saved -1, now 4"),
        ({"trainer_options": {"accumulate_grad_batches": 2}}, "trainer.accumulate_grad_batches: saved 1, now 2"),
        ({"trainer_options": {"gradient_clip_val": 0.5}}, "trainer.gradient_clip_val: saved 0.0, now 0.5"),
        ({"trainer_options": {"precision": "64-true"}}, "trainer.precision: saved '32-true', now '64-true'"),
        ({"trainer_options": {"limit_train_batches": 2}}, "trainer.limit_train_batches: saved 1.0, now '2 batches'"),
        ({"trainer_options": {"limit_test_batches": 1}}, "trainer.limit_test_batches: saved 1.0, now '1 batches'"),
        ({"learning_rate": 0.02}, "model.hparams.learning_rate: saved 0.01, now 0.02"),
    ],
    ids=[
        "max-epochs", "max-steps", "accumulate", "clip", "precision", "limit-batches", "limit-test", "learning-rate",
    ],
)
def test_resume_rejects_other_training_settings(saved_run, build, difference):
    before = snapshot(saved_run)
    strategy, datamodule, trainer = make_run(**build)

    with pytest.raises(InvalidArgumentError, match="saved with another configuration") as raised:
        trainer.active_fit(strategy, datamodule, run_dir=saved_run, resume=True, **LOOP)

    assert difference in str(raised.value)
    assert strategy.model.fits == 0
    assert snapshot(saved_run) == before


def test_resume_rejects_other_seed(saved_run):
    strategy, datamodule, trainer = make_run()

    with pytest.raises(InvalidArgumentError, match=f"seed: saved {SEED}, now {SEED + 1}"):
        trainer.active_fit(strategy, datamodule, run_dir=saved_run, resume=True, seed=SEED + 1, **LOOP)

    assert strategy.model.fits == 0


@pytest.mark.parametrize("seed", [SEED, None], ids=["same", "none"])
def test_resume_accepts_same_or_no_seed(saved_run, seed):
    strategy, datamodule, trainer = make_run(global_seed=7)

    results = trainer.active_fit(strategy, datamodule, run_dir=saved_run, resume=True, seed=seed, **LOOP)

    assert len(results) == 3


def test_resume_of_config_without_new_sections(saved_run):
    # A configuration saved before the trainer settings and hyperparameters were recorded.
    config = json.loads((saved_run / "config.json").read_text())
    del config["trainer"]
    del config["model"]["hparams"]
    (saved_run / "config.json").write_text(json.dumps(config))
    strategy, datamodule, trainer = make_run(learning_rate=0.02, trainer_options={"max_epochs": 3})

    results = trainer.active_fit(strategy, datamodule, run_dir=saved_run, resume=True, **LOOP)

    assert len(results) == 3


def test_config_differences_skips_only_absent_sections():
    saved = {"loop": {"query_size": 5}, "model": {"parameters": {"w": [2, 2]}}}
    current = {
        "loop": {"query_size": 5},
        "model": {"parameters": {"w": [2, 2], "b": [2]}, "hparams": {"lr": 0.1}},
        "trainer": {"max_epochs": 3},
    }

    assert config_differences(saved, current) == ["model.parameters.b: saved '(absent)', now [2]"]


def test_config_differences_compares_present_sections():
    saved = {"trainer": {"max_epochs": 2, "max_steps": -1}, "model": {"hparams": {"lr": 0.1}}}
    current = {"trainer": {"max_epochs": 2}, "model": {"hparams": {"lr": 0.1, "dropout": 0.5}}}

    assert config_differences(saved, current) == [
        "model.hparams.dropout: saved '(absent)', now 0.5",
        "trainer.max_steps: saved -1, now '(absent)'",
    ]


def test_resume_accepts_clip_zero_for_none(saved_run):
    strategy, datamodule, trainer = make_run(trainer_options={"gradient_clip_val": 0.0})

    results = trainer.active_fit(strategy, datamodule, run_dir=saved_run, resume=True, **LOOP)

    assert len(results) == 3


def test_config_differences_skips_trainer_settings_added_later():
    saved = {"trainer": {"max_epochs": 2}}
    current = {"trainer": {"max_epochs": 2, "limit_test_batches": 1.0}}

    assert config_differences(saved, current) == []


def test_config_differences_takes_nan_as_equal():
    saved = {"model": {"hparams": {"weight": float("nan"), "lr": 0.1}}}
    current = {"model": {"hparams": {"weight": float("nan"), "lr": 0.2}}}

    assert config_differences(saved, current) == ["model.hparams.lr: saved 0.1, now 0.2"]


def test_seed_differences():
    assert seed_differences(3, None) == []
    assert seed_differences(3, 3) == []
    assert seed_differences(3, 4) == ["seed: saved 3, now 4"]
