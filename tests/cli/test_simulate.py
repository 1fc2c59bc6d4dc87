"""`energizer simulate` end to end on the bundled digits, and its input errors."""

from __future__ import annotations

import json
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

import energizer
import energizer.plotting
from energizer.cli import simulate
from energizer.cli.main import main

SMALL_RUN = [
    "simulate", "--dataset", "digits", "--strategy", "entropy,random", "--rounds", "3",
    "--query-size", "10", "--initial-labels", "10", "--max-epochs", "3", "--seed", "0",
]


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("run")
    status = main([*SMALL_RUN, "--output-dir", str(output_dir), "--quiet"])
    return status, output_dir


def test_simulate_exits_zero(small_run):
    status, _ = small_run
    assert status == 0


def test_rounds_csv_columns(small_run):
    _, output_dir = small_run
    rounds = pd.read_csv(output_dir / "rounds.csv")
    required = ["strategy", "seed", "round", "num_labelled", "test_accuracy", "fit_seconds", "query_seconds"]
    assert list(rounds.columns[:4]) == required[:4]
    assert set(required) <= set(rounds.columns)
    assert "test_loss" in rounds.columns


def test_rounds_csv_rows(small_run):
    _, output_dir = small_run
    rounds = pd.read_csv(output_dir / "rounds.csv")
    assert rounds["strategy"].tolist() == ["entropy"] * 3 + ["random"] * 3
    assert rounds["num_labelled"].tolist() == [10, 20, 30] * 2
    assert rounds["test_accuracy"].between(0, 1).all()


def test_readme_lists_rounds_columns(small_run):
    _, output_dir = small_run
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    columns = list(pd.read_csv(output_dir / "rounds.csv").columns)
    pattern = r"`rounds\.csv` has one row per strategy, seed and round, with\s+the columns (.*?)\."
    sentence = re.search(pattern, readme, re.S)

    assert sentence is not None
    assert re.findall(r"`(\w+)`", sentence.group(1)) == columns


def test_learning_curve_is_png(small_run):
    _, output_dir = small_run
    assert (output_dir / "learning_curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_strategies_share_initial_labels(small_run):
    _, output_dir = small_run
    rounds = pd.read_csv(output_dir / "rounds.csv")
    first = rounds[rounds["round"] == 0]
    assert first["test_accuracy"].nunique() == 1


def test_console_script_prints_rows(tmp_path):
    script = Path(sys.executable).with_name("energizer")
    completed = subprocess.run(
        [str(script), *SMALL_RUN[:-6], "--rounds", "2", "--max-epochs", "1", "--output-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    lines = completed.stdout.splitlines()
    assert lines[0].split()[:4] == ["strategy", "seed", "round", "labelled"]
    assert sum(line.startswith(("entropy ", "random ")) for line in lines) == 4


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--dataset", "mnist"], "invalid choice: 'mnist' (choose from 'digits', 'breast-cancer', 'wine')"),
        (
            ["--strategy", "entropy,core-set"],
            "invalid strategy 'core-set'; choose from random, entropy, margin, least-confidence, bald, "
            "batchbald, power-bald, softmax-bald, softrank-bald, predictive-entropy, expected-entropy, "
            "variation-ratios, mean-std, coreset, badge, typiclust, cluster-margin",
        ),
        (["--strategy", "entropy,entropy"], "a strategy is listed twice"),
        (["--subpool-size", "5", "--query-size", "10"], "5 is smaller than --query-size 10"),
        (["--query-size", "0"], "expected a whole number >= 1, received 0"),
        (["--rounds", "two"], "expected a whole number, received 'two'"),
        (["--test-fraction", "1.5"], "strictly between 0 and 1, received 1.5"),
        (["--dataset", "wine", "--initial-labels", "500"], "500 leaves no pool; the wine train split has 124 items"),
        (["--seed", "-1"], "expected a seed between 0 and 2**32 - 1, received -1"),
        (["--learning-rate", "inf"], "expected a finite number > 0, received inf"),
        (["--test-fraction", "0.999"], "cannot split digits with 0.999"),
        (["--accelerator", "tpu"], "argument --accelerator: 'tpu' cannot run here"),
        (["--num-workers", "-1"], "argument --num-workers: expected a whole number >= 0, received -1"),
        (["--eval-batch-size", "0"], "argument --eval-batch-size: expected a whole number >= 1, received 0"),
    ],
)
def test_invalid_options_exit_two(arguments, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["simulate", *arguments, "--output-dir", str(tmp_path)])
    assert raised.value.code == 2
    assert message in capsys.readouterr().err


def test_output_dir_that_is_a_file(tmp_path, capsys):
    target = tmp_path / "taken"
    target.write_text("")
    with pytest.raises(SystemExit):
        main(["simulate", "--output-dir", str(target)])
    assert "exists and is not a folder" in capsys.readouterr().err


def test_existing_results_need_overwrite(small_run, capsys):
    _, output_dir = small_run
    before = (output_dir / "rounds.csv").read_bytes()

    with pytest.raises(SystemExit) as raised:
        main([*SMALL_RUN, "--output-dir", str(output_dir), "--quiet"])

    assert raised.value.code == 2
    assert "already holds results; pass --resume to continue them, --overwrite" in capsys.readouterr().err
    assert (output_dir / "rounds.csv").read_bytes() == before


def test_error_shows_simulate_usage(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--strategy", "nope", "--output-dir", str(tmp_path)])

    assert capsys.readouterr().err.startswith("usage: energizer simulate")


def test_loading_options_reach_the_loaders(tmp_path, monkeypatch):
    created = []

    class RecordingDataModule(energizer.ActiveDataModule):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            created.append(self)

    monkeypatch.setattr(energizer, "ActiveDataModule", RecordingDataModule)
    arguments = [*SMALL_RUN, "--rounds", "1", "--max-epochs", "1", "--quiet", "--strategy", "entropy"]
    arguments += ["--num-workers", "1", "--eval-batch-size", "7", "--output-dir", str(tmp_path)]

    assert main(arguments) == 0

    assert len(created) == 1
    assert created[0].num_workers == 1
    assert created[0].persistent_workers is True
    assert created[0].eval_batch_size == 7
    assert created[0].pool_dataloader().batch_size == 7


def result_columns(path: Path) -> pd.DataFrame:
    """Return rounds.csv without its timing columns, which differ from run to run."""
    frame = pd.read_csv(path)
    return frame[[column for column in frame.columns if not column.endswith("_seconds")]]


def test_resume_of_finished_runs_trains_nothing(small_run, capsys):
    _, output_dir = small_run
    before = pd.read_csv(output_dir / "rounds.csv")

    status = main([*SMALL_RUN, "--output-dir", str(output_dir), "--quiet", "--resume"])

    assert status == 0
    pd.testing.assert_frame_equal(pd.read_csv(output_dir / "rounds.csv"), before)


def test_killed_simulate_resumes_to_same_rounds(small_run, tmp_path):
    _, finished_dir = small_run
    script = Path(sys.executable).with_name("energizer")
    state = tmp_path / "runs" / "entropy-seed0" / "state.json"
    process = subprocess.Popen(
        [str(script), *SMALL_RUN, "--output-dir", str(tmp_path), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if state.exists() and json.loads(state.read_text())["step"] >= 1:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL

    status = main([*SMALL_RUN, "--output-dir", str(tmp_path), "--quiet", "--resume"])

    assert status == 0
    pd.testing.assert_frame_equal(result_columns(tmp_path / "rounds.csv"), result_columns(finished_dir / "rounds.csv"))


def test_ctrl_c_exits_130_with_resume_hint(small_run, tmp_path):
    _, finished_dir = small_run
    script = Path(sys.executable).with_name("energizer")
    state = tmp_path / "runs" / "entropy-seed0" / "state.json"
    process = subprocess.Popen(
        [str(script), *SMALL_RUN, "--output-dir", str(tmp_path), "--quiet"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if state.exists() and json.loads(state.read_text())["step"] >= 1:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, error = process.communicate(timeout=60)

    assert process.returncode == 130, error
    assert "energizer simulate: interrupted; run the same command with --resume to continue" in error
    assert main([*SMALL_RUN, "--output-dir", str(tmp_path), "--quiet", "--resume"]) == 0
    pd.testing.assert_frame_equal(result_columns(tmp_path / "rounds.csv"), result_columns(finished_dir / "rounds.csv"))


def test_resume_with_other_options_fails(small_run, capsys):
    _, output_dir = small_run
    before = (output_dir / "rounds.csv").read_bytes()

    with pytest.raises(SystemExit) as raised:
        main([*SMALL_RUN, "--query-size", "5", "--output-dir", str(output_dir), "--quiet", "--resume"])

    assert raised.value.code == 2
    error = capsys.readouterr().err
    assert "was run with other options (--query-size saved 10, now 5)" in error
    assert (output_dir / "rounds.csv").read_bytes() == before


def test_resume_checks_each_run_without_options_file(small_run, tmp_path, capsys):
    _, output_dir = small_run
    copy = tmp_path / "copy"
    shutil.copytree(output_dir, copy)
    (copy / "options.json").unlink()

    status = main([*SMALL_RUN, "--query-size", "5", "--output-dir", str(copy), "--quiet", "--resume"])

    assert status == 1
    assert "saved with another configuration: loop.query_size: saved 10, now 5" in capsys.readouterr().err


def test_resume_of_missing_folder_exits_two(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main([*SMALL_RUN, "--output-dir", str(tmp_path / "missing"), "--quiet", "--resume"])

    assert raised.value.code == 2
    assert "contains no results to resume; check the folder, or drop --resume" in capsys.readouterr().err
    assert not (tmp_path / "missing").exists()


def test_bad_initial_labels_creates_no_folder(tmp_path, capsys):
    with pytest.raises(SystemExit):
        main([*SMALL_RUN, "--initial-labels", "5000", "--output-dir", str(tmp_path / "new"), "--quiet"])

    assert "leaves no pool" in capsys.readouterr().err
    assert not (tmp_path / "new").exists()


def test_resume_and_overwrite_exclusive(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main([*SMALL_RUN, "--output-dir", str(tmp_path), "--resume", "--overwrite"])

    assert raised.value.code == 2
    assert "argument --resume: not allowed with --overwrite" in capsys.readouterr().err


SEEDS_RUN = [*SMALL_RUN[:-2], "--seeds", "0,1", "--quiet"]


@pytest.fixture(scope="module")
def seeds_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("seeds")
    status = main([*SEEDS_RUN, "--output-dir", str(output_dir)])
    return status, output_dir


def test_seeds_rows_per_strategy_and_seed(seeds_run):
    status, output_dir = seeds_run
    rounds = pd.read_csv(output_dir / "rounds.csv")

    assert status == 0
    assert rounds["seed"].tolist() == [0] * 6 + [1] * 6
    assert rounds["strategy"].tolist() == (["entropy"] * 3 + ["random"] * 3) * 2
    assert rounds["round"].tolist() == [0, 1, 2] * 4
    assert rounds["num_labelled"].tolist() == [10, 20, 30] * 4


def test_seeds_save_one_run_each(seeds_run):
    _, output_dir = seeds_run

    names = sorted(path.name for path in (output_dir / "runs").iterdir())

    assert names == ["entropy-seed0", "entropy-seed1", "random-seed0", "random-seed1"]


def test_seeds_share_start_within_seed(seeds_run):
    _, output_dir = seeds_run
    first = pd.read_csv(output_dir / "rounds.csv").query("round == 0")

    assert first.groupby("seed")["test_accuracy"].nunique().tolist() == [1, 1]


def test_seeds_match_single_seed_runs(seeds_run, small_run, tmp_path):
    _, seeds_dir = seeds_run
    _, seed0_dir = small_run
    assert main([*SMALL_RUN[:-2], "--seed", "1", "--quiet", "--output-dir", str(tmp_path)]) == 0
    combined = result_columns(seeds_dir / "rounds.csv")

    for seed, single_dir in ((0, seed0_dir), (1, tmp_path)):
        expected = result_columns(single_dir / "rounds.csv")
        actual = combined[combined["seed"] == seed].reset_index(drop=True)
        pd.testing.assert_frame_equal(actual, expected)


def test_seeds_resume_of_finished_runs_trains_nothing(seeds_run):
    _, output_dir = seeds_run
    before = pd.read_csv(output_dir / "rounds.csv")

    status = main([*SEEDS_RUN, "--output-dir", str(output_dir), "--resume"])

    assert status == 0
    pd.testing.assert_frame_equal(pd.read_csv(output_dir / "rounds.csv"), before)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--seeds", "0,,2"], "argument --seeds: expected comma-separated seeds such as 0,1,2, received '0,,2'"),
        (["--seeds", ""], "argument --seeds: expected comma-separated seeds such as 0,1,2, received ''"),
        (["--seeds", "0,x"], "argument --seeds: invalid seed 'x' in '0,x': expected a whole number"),
        (["--seeds", "0,-3"], "invalid seed '-3' in '0,-3': expected a seed between 0 and 2**32 - 1"),
        (["--seeds", "1,2,1"], "argument --seeds: seed 1 is listed twice in '1,2,1'; list each seed once"),
        (["--seed", "0", "--seeds", "1,2"], "argument --seeds: not allowed with argument --seed"),
    ],
)
def test_invalid_seeds_exit_two(arguments, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["simulate", *arguments, "--output-dir", str(tmp_path)])

    assert raised.value.code == 2
    assert message in capsys.readouterr().err


def copy_of(output_dir: Path, tmp_path: Path) -> Path:
    """Return a copy of a finished run's folder, for a test that changes it."""
    copy = tmp_path / "copy"
    shutil.copytree(output_dir, copy)
    return copy


def test_resume_keeps_rows_of_other_strategies(small_run, tmp_path, monkeypatch):
    _, output_dir = small_run
    copy = copy_of(output_dir, tmp_path)
    before = pd.read_csv(copy / "rounds.csv")
    plotted = []
    monkeypatch.setattr(
        energizer.plotting, "plot_learning_curves", lambda frame, path: plotted.append(frame)
    )
    arguments = [*SMALL_RUN, "--strategy", "margin", "--output-dir", str(copy), "--quiet"]

    status = main([*arguments, "--resume"])

    after = pd.read_csv(copy / "rounds.csv")
    assert status == 0
    assert after["strategy"].tolist() == ["entropy"] * 3 + ["random"] * 3 + ["margin"] * 3
    pd.testing.assert_frame_equal(after.iloc[:6], before)
    assert list(plotted[0]["strategy"].unique()) == ["entropy", "random", "margin"]


def test_resume_of_one_seed_keeps_others(seeds_run, tmp_path):
    _, output_dir = seeds_run
    copy = copy_of(output_dir, tmp_path)
    before = pd.read_csv(copy / "rounds.csv")

    arguments = [*SMALL_RUN[:-2], "--strategy", "random", "--seed", "1", "--quiet"]

    status = main([*arguments, "--output-dir", str(copy), "--resume"])

    assert status == 0
    pd.testing.assert_frame_equal(pd.read_csv(copy / "rounds.csv"), before)


class StopBeforeTraining(Exception):
    pass


def saved_results(output_dir: Path) -> dict[str, bool]:
    names = ("rounds.csv", "learning_curve.png", "runs")
    return {name: (output_dir / name).exists() for name in names}


def test_overwrite_deletes_results_before_training(small_run, tmp_path, monkeypatch):
    _, output_dir = small_run
    copy = copy_of(output_dir, tmp_path)
    found = []

    def stop(*args, **kwargs):
        found.append(saved_results(copy))
        raise StopBeforeTraining

    monkeypatch.setattr(simulate, "_run_strategy", stop)

    with pytest.raises(StopBeforeTraining):
        main([*SMALL_RUN, "--output-dir", str(copy), "--quiet", "--overwrite"])

    assert found == [{"rounds.csv": False, "learning_curve.png": False, "runs": False}]


def test_rejected_overwrite_deletes_nothing(small_run, tmp_path, capsys):
    _, output_dir = small_run
    copy = copy_of(output_dir, tmp_path)

    with pytest.raises(SystemExit):
        main([*SMALL_RUN, "--initial-labels", "5000", "--output-dir", str(copy), "--overwrite"])

    assert "leaves no pool" in capsys.readouterr().err
    assert saved_results(copy) == {"rounds.csv": True, "learning_curve.png": True, "runs": True}


@pytest.mark.parametrize(
    ("name", "text", "reason"),
    [
        ("options.json", "{", "Expecting property name enclosed in double quotes"),
        ("options.json", "[1, 2]", "expected a JSON object of options, received an array"),
        ("options.json", "null", "expected a JSON object of options, received null"),
        (
            "rounds.csv",
            "round,num_labelled\n0,10\n",
            "expected the columns strategy and seed, received round, num_labelled",
        ),
        ("rounds.csv", "strategy,seed,round\nrandom,,0\n", "expected whole-number seeds, received nan"),
        ("rounds.csv", "", "No columns to parse from file"),
    ],
)
def test_resume_with_unreadable_file_fails(name, text, reason, small_run, tmp_path, capsys):
    _, output_dir = small_run
    copy = copy_of(output_dir, tmp_path)
    (copy / name).write_text(text)

    with pytest.raises(SystemExit) as raised:
        main([*SMALL_RUN, "--output-dir", str(copy), "--quiet", "--resume"])

    error = capsys.readouterr().err
    assert raised.value.code == 2
    assert f"argument --resume: cannot read {str(copy / name)!r}: {reason}" in error
    assert "; restore it from a copy, or choose another --output-dir" in error


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--eval-batch-size", "64"], "(--eval-batch-size saved 256, now 64)"),
        (["--num-workers", "1"], "(--num-workers saved 0, now 1)"),
    ],
)
def test_resume_compares_options_that_change_results(option, message, small_run, capsys):
    _, output_dir = small_run

    with pytest.raises(SystemExit) as raised:
        main([*SMALL_RUN, *option, "--output-dir", str(output_dir), "--resume"])

    assert raised.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("saved", "extra", "hint"),
    [
        (True, [], "; run the same command with --resume to continue"),
        (True, ["--overwrite"], "; run the command again with --resume in place of --overwrite to continue"),
        (False, [], "; nothing was saved yet, so run the same command again to start over"),
    ],
    ids=["saved", "overwrite", "nothing-saved"],
)
def test_interrupt_hint_fits_the_folder(saved, extra, hint, tmp_path, monkeypatch, capsys):
    if saved:
        state = tmp_path / "runs" / "entropy-seed0" / "state.json"
        state.parent.mkdir(parents=True)
        state.write_text("{}")

    def interrupted(args, parser):
        raise KeyboardInterrupt

    monkeypatch.setattr("energizer.cli.simulate.run", interrupted)
    status = main([*SMALL_RUN, "--output-dir", str(tmp_path), *extra])

    assert status == 130
    assert f"energizer simulate: interrupted{hint}" in capsys.readouterr().err
