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
    ],
)
def test_stream_mode_rejects_bad_options(arguments, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        main([*STREAM_RUN, *arguments, "--output-dir", str(tmp_path)])

    assert raised.value.code == 2
    assert message in capsys.readouterr().err
