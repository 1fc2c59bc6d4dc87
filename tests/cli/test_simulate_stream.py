"""`energizer simulate --mode stream` on the bundled digits: rows, budget and input errors."""

from __future__ import annotations

import pandas as pd
import pytest

from energizer.cli.main import main

STREAM_RUN = [
    "simulate", "--mode", "stream", "--dataset", "digits", "--budget", "0.1", "--update-every-labels", "30",
    "--max-steps", "20", "--seed", "0", "--quiet",
]


@pytest.fixture(scope="module")
def stream_run(tmp_path_factory):
    output_dir = tmp_path_factory.mktemp("stream")
    status = main([*STREAM_RUN, "--output-dir", str(output_dir)])
    return status, pd.read_csv(output_dir / "rounds.csv")


def test_stream_mode_exits_zero(stream_run):
    status, _ = stream_run
    assert status == 0


def test_stream_mode_runs_default_strategies(stream_run):
    _, rounds = stream_run
    assert list(dict.fromkeys(rounds["strategy"])) == ["random", "variable-uncertainty", "split"]


def test_stream_mode_respects_budget(stream_run):
    _, rounds = stream_run
    for _, run in rounds.groupby("strategy"):
        shares = run["num_labelled"] / run["num_seen"].clip(lower=1)
        assert (run["num_labelled"] <= 0.1 * run["num_seen"] + 1e-9).all()
        assert run["num_seen"].iloc[-1] == 1257
        assert shares.iloc[-1] > 0.09


def test_stream_mode_rows_have_pool_columns(stream_run):
    _, rounds = stream_run
    assert list(rounds.columns[:5]) == ["strategy", "seed", "round", "num_labelled", "num_seen"]
    assert {"test_accuracy", "fit_seconds", "queried_ids"} <= set(rounds.columns)
    assert rounds.groupby("strategy")["test_accuracy"].last().min() > 0.5


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--strategy", "entropy"], "invalid strategy 'entropy'; choose from random, fixed-uncertainty"),
        (["--budget", "1.5"], "argument --budget: expected a number strictly between 0 and 1, received 1.5"),
        (["--resume"], "argument --resume: the stream mode saves no run state"),
        (["--update-every-labels", "0"], "argument --update-every-labels: expected a whole number >= 1, received 0"),
        (["--query-size", "5"], "argument --query-size: applies to --mode pool only, and this run has --mode stream"),
        (["--rounds", "3"], "argument --rounds: applies to --mode pool only"),
        (["--initial-labels", "50"], "argument --initial-labels: applies to --mode pool only"),
        (["--subpool-size", "100"], "argument --subpool-size: applies to --mode pool only"),
        (
            ["--strategy", "random", "--threshold", "0.3"],
            "argument --threshold: used only by fixed-uncertainty, and --strategy is random",
        ),
        (["--strategy", "random", "--score", "margin"], "argument --score: used only by fixed-uncertainty"),
        (["--strategy", "random,variable-uncertainty", "--random-share", "0.5"], "argument --random-share: used only by split"),
        (["--strategy", "random", "--step", "0.05"], "argument --step: used only by variable-uncertainty, split"),
        (
            ["--strategy", "fixed-uncertainty", "--threshold", "2"],
            "argument --threshold: 2 is outside [0, 0.9), the range where least-confidence scores over 10 classes "
            "can exceed it, so fixed-uncertainty would never ask",
        ),
        (
            ["--strategy", "fixed-uncertainty", "--score", "margin", "--threshold", "1"],
            "argument --threshold: 1 is outside [0, 1)",
        ),
        (
            ["--strategy", "fixed-uncertainty", "--threshold", "-0.1"],
            "so fixed-uncertainty would always ask for a label",
        ),
        (
            ["--strategy", "fixed-uncertainty", "--dataset", "breast-cancer"],
            "argument --threshold: 0.5 (the default) is outside [0, 0.5), the range where "
            "least-confidence scores over 2 classes can exceed it, so fixed-uncertainty would "
            "never ask for a label; pass a --threshold in that range, such as 0.25",
        ),
        (
            ["--strategy", "fixed-uncertainty", "--threshold", "nan"],
            "argument --threshold: expected a finite number, received 'nan'",
        ),
        (
            ["--strategy", "fixed-uncertainty", "--threshold=-inf"],
            "argument --threshold: expected a finite number, received '-inf'",
        ),
        (
            ["--strategy", "fixed-uncertainty", "--threshold", "high"],
            "argument --threshold: expected a number, received 'high'",
        ),
        (["--window", "200"], "argument --window: only --budget-manager estimated reads it"),
        (
            ["--budget-manager", "estimated", "--window", "5"],
            "argument --window: 5 items hold less than one label at --budget 0.1 (window x budget < 1); "
            "pass --window 100 or more",
        ),
    ],
)
def test_stream_mode_rejects_bad_options(arguments, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main([*STREAM_RUN, *arguments, "--output-dir", str(tmp_path)])

    assert raised.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "rounds.csv").exists()


@pytest.mark.parametrize(
    ("arguments", "flag"),
    [
        (["--budget", "0.2"], "--budget"),
        (["--budget-manager", "estimated"], "--budget-manager"),
        (["--update-every-labels", "5"], "--update-every-labels"),
        (["--max-items", "100"], "--max-items"),
    ],
)
def test_pool_mode_rejects_stream_options(arguments, flag, tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main(["simulate", "--quiet", *arguments, "--output-dir", str(tmp_path)])

    assert raised.value.code == 2
    assert f"argument {flag}: applies to --mode stream only, and this run has --mode pool" in capsys.readouterr().err


def test_stream_mode_accepts_a_repeated_default(tmp_path):
    arguments = ["--strategy", "random", "--query-size", "20", "--max-items", "64", "--output-dir", str(tmp_path)]

    assert main([*STREAM_RUN, *arguments]) == 0


def test_stream_summary_counts_items_seen(tmp_path, capsys):
    arguments = [*STREAM_RUN[:-1], "--strategy", "random", "--max-items", "5"]

    assert main([*arguments, "--output-dir", str(tmp_path)]) == 0

    output = capsys.readouterr().out
    assert "random: Stopped after max_items=5 items: 0 of 5 items labelled" in output
    assert "of 0 items" not in output
