"""The run directory: what it saves, and the errors of a new run or a resume that cannot proceed."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from run_helpers import make_dataset, make_run

from energizer.errors import InvalidArgumentError
from energizer.loop.run_dir import RunDirectory
from energizer.query_strategies import MarginStrategy


def snapshot(folder):
    """Return the bytes of every file in ``folder``, by name."""
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


@pytest.fixture
def finished_run(tmp_path):
    """A three-round run saved in ``tmp_path / 'run'``, with its results."""
    strategy, datamodule, trainer = make_run()
    run_dir = tmp_path / "run"
    results = trainer.active_fit(strategy, datamodule, query_size=5, max_rounds=3, run_dir=run_dir)
    return run_dir, results, datamodule


def test_run_dir_files_are_open_formats(finished_run):
    run_dir, results, datamodule = finished_run

    names = sorted(path.name for path in run_dir.iterdir())
    state = json.loads((run_dir / "state.json").read_text())
    config = json.loads((run_dir / "config.json").read_text())
    with np.load(run_dir / state["labels_file"], allow_pickle=False) as labels:
        label_rounds = labels["label_rounds"]
    weights = torch.load(run_dir / "initial_weights.pt", weights_only=True)

    assert names == ["config.json", "initial_weights.pt", "labels-000003.npz", "rounds.csv", "state.json"]
    assert state["next_round"] == 3
    assert state["results"]["stop_reason"] == "max_rounds"
    assert len(state["results"]["rounds"]) == 3
    assert config["loop"]["query_size"] == 5
    assert config["strategy"]["class"].endswith("EntropyStrategy")
    assert label_rounds.tolist() == datamodule.label_rounds.tolist()
    assert set(weights) == set(make_run()[0].model.state_dict())
    assert (run_dir / "rounds.csv").read_text().splitlines()[0].startswith("round,num_labelled")
    assert not list(run_dir.glob(".*.tmp"))


def test_resume_of_finished_run_returns_saved_results(finished_run):
    run_dir, results, _ = finished_run
    strategy, datamodule, trainer = make_run(global_seed=7)

    resumed = trainer.active_fit(strategy, datamodule, query_size=5, max_rounds=3, run_dir=run_dir, resume=True)

    assert strategy.model.fits == 0
    assert resumed.stop_reason == results.stop_reason
    assert [record.queried_ids.tolist() for record in resumed] == [record.queried_ids.tolist() for record in results]
    assert [record.metrics for record in resumed] == [record.metrics for record in results]


def test_new_run_rejects_folder_with_run(finished_run):
    run_dir, _, _ = finished_run
    before = snapshot(run_dir)
    strategy, datamodule, trainer = make_run()

    with pytest.raises(InvalidArgumentError, match="which holds one.*Pass resume=True to continue it"):
        trainer.active_fit(strategy, datamodule, query_size=5, max_rounds=3, run_dir=run_dir)

    assert strategy.model.fits == 0
    assert snapshot(run_dir) == before


@pytest.mark.parametrize(
    ("change", "difference"),
    [
        ({"query_size": 4}, "loop.query_size: saved 5, now 4"),
        ({"max_rounds": 5}, "loop.max_rounds: saved 3, now 5"),
        ({"reinit_model": False}, "loop.reinit_model: saved True, now False"),
        ({"strategy_class": MarginStrategy}, "strategy.class: saved 'energizer.query_strategies.uncertainty.EntropyStrategy'"),
        ({"hidden": 9}, "model.parameters.network.0.weight: saved [8, 4], now [9, 4]"),
        ({"dataset": make_dataset(shift=1.0)}, "data.dataset_fingerprint: saved"),
        ({"dataset": make_dataset(61)}, "data.dataset_length: saved 60, now 61"),
    ],
    ids=["query-size", "max-rounds", "reinit", "strategy", "model", "dataset-content", "dataset-length"],
)
def test_resume_rejects_other_configuration(finished_run, change, difference):
    run_dir, _, _ = finished_run
    before = snapshot(run_dir)
    loop = {"query_size": 5, "max_rounds": 3, "reinit_model": True}
    build = {name: change.pop(name) for name in ("strategy_class", "hidden", "dataset") if name in change}
    loop.update(change)
    strategy, datamodule, trainer = make_run(**build)

    with pytest.raises(InvalidArgumentError, match="saved with another configuration") as raised:
        trainer.active_fit(strategy, datamodule, run_dir=run_dir, resume=True, **loop)

    assert difference in str(raised.value)
    assert "start a new run in another folder" in str(raised.value)
    assert strategy.model.fits == 0
    assert snapshot(run_dir) == before


def truncate(path):
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda run_dir: None, None),
        (lambda run_dir: truncate(run_dir / "state.json"), r"state\.json', which is damaged: it cannot be read as JSON"),
        (lambda run_dir: truncate(run_dir / "config.json"), r"config\.json', which is damaged: it cannot be read as JSON"),
        (lambda run_dir: (run_dir / "config.json").unlink(), r"config\.json', which is damaged: it is missing"),
        (lambda run_dir: truncate(run_dir / "labels-000003.npz"), r"labels-000003\.npz', which is damaged"),
        (lambda run_dir: (run_dir / "labels-000003.npz").unlink(), r"it names labels-000003\.npz, which is missing"),
        (lambda run_dir: truncate(run_dir / "initial_weights.pt"), r"initial_weights\.pt', which is damaged"),
        (
            lambda run_dir: torch.save({"weight": Path("x")}, run_dir / "initial_weights.pt"),
            r"initial_weights\.pt', which is damaged: it holds more than tensors and plain values",
        ),
        (lambda run_dir: (run_dir / "state.json").write_text("[1, 2]"), "it is not a JSON object"),
        (
            lambda run_dir: (run_dir / "state.json").write_text(
                json.dumps({**json.loads((run_dir / "state.json").read_text()), "labels_file": "../elsewhere.npz"})
            ),
            r"it names the file '\.\./elsewhere\.npz'",
        ),
    ],
    ids=["intact", "state-truncated", "config-truncated", "config-missing", "labels-truncated", "labels-missing",
         "weights-truncated", "weights-with-objects", "state-not-object", "labels-outside"],
)
def test_resume_rejects_damaged_folder(finished_run, damage, message):
    run_dir, _, _ = finished_run
    damage(run_dir)
    before = snapshot(run_dir)
    strategy, datamodule, trainer = make_run()

    if message is None:
        trainer.active_fit(strategy, datamodule, query_size=5, max_rounds=3, run_dir=run_dir, resume=True)
        return
    with pytest.raises(InvalidArgumentError, match=message) as raised:
        trainer.active_fit(strategy, datamodule, query_size=5, max_rounds=3, run_dir=run_dir, resume=True)

    assert "Restore the folder from a copy, or start a new run in another folder" in str(raised.value)
    assert "weights_only" not in str(raised.value)
    assert strategy.model.fits == 0
    assert snapshot(run_dir) == before


@pytest.mark.parametrize(
    ("prepare", "message"),
    [
        (lambda path: None, "which does not exist.*pass resume=False to start a new run there"),
        (lambda path: path.mkdir(), "which holds no saved run"),
    ],
    ids=["missing", "empty"],
)
def test_resume_rejects_missing_or_empty_folder(tmp_path, prepare, message):
    run_dir = tmp_path / "run"
    prepare(run_dir)
    strategy, datamodule, trainer = make_run()

    with pytest.raises(InvalidArgumentError, match=message):
        trainer.active_fit(strategy, datamodule, query_size=5, max_rounds=3, run_dir=run_dir, resume=True)

    assert strategy.model.fits == 0


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"resume": True}, "resume=True without run_dir.*Pass run_dir="),
        ({"resume": "yes", "run_dir": "x"}, "Invalid `resume`: expected True or False, received 'yes'"),
        ({"seed": -1}, "Invalid `seed`: expected None or an integer between 0 and 2\\*\\*32 - 1, received -1"),
        ({"seed": 1.5}, "received 1.5"),
        ({"run_dir": 3}, "Invalid `run_dir`: expected a folder path"),
    ],
    ids=["resume-without-dir", "resume-not-bool", "seed-negative", "seed-float", "run-dir-int"],
)
def test_run_options_rejected_before_training(options, message):
    strategy, datamodule, trainer = make_run()

    with pytest.raises(InvalidArgumentError, match=message):
        trainer.active_fit(strategy, datamodule, query_size=5, max_rounds=3, **options)

    assert strategy.model.fits == 0


def test_run_dir_that_is_a_file_is_rejected(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    strategy, datamodule, trainer = make_run()

    with pytest.raises(InvalidArgumentError, match=re.escape(f"'{path}', which is a file")):
        trainer.active_fit(strategy, datamodule, query_size=5, max_rounds=2, run_dir=path)

    assert path.read_text() == "x"
