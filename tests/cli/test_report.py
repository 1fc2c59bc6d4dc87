"""`energizer report` on small rounds.csv files written by the tests, and its input errors."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from energizer.cli.main import main

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def write_rounds(folder: Path, curves: dict[tuple[str, int], list[float]], counts=(10, 20, 30)) -> Path:
    """Write ``{(strategy, seed): accuracies}`` as ``folder/rounds.csv`` and return the folder."""
    rows = [
        {"strategy": strategy, "seed": seed, "round": index, "num_labelled": count, "test_accuracy": accuracy}
        for (strategy, seed), accuracies in curves.items()
        for index, (count, accuracy) in enumerate(zip(counts, accuracies))
    ]
    folder.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(folder / "rounds.csv", index=False)
    return folder


CURVES = {
    ("entropy", 0): [0.5, 0.7, 0.9],
    ("entropy", 1): [0.7, 0.9, 0.9],
    ("random", 0): [0.5, 0.6, 0.7],
    ("random", 1): [0.7, 0.8, 0.7],
}


def test_report_writes_summary_and_plot(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)

    status = main(["report", str(run_dir), "--output", str(tmp_path / "report"), "--reference-accuracy", "0.9"])

    assert status == 0
    summary = pd.read_csv(tmp_path / "report" / "summary.csv")
    assert summary["strategy"].tolist() == ["entropy", "random"]
    assert summary["aubc_mean"].tolist() == pytest.approx([0.775, 0.675])
    assert summary["labels_to_95pct"].tolist()[0] == 30
    assert pd.isna(summary["labels_to_95pct"].tolist()[1])
    assert (tmp_path / "report" / "learning_curves.png").read_bytes()[:8] == PNG_SIGNATURE


def test_report_prints_table(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)

    main(["report", str(run_dir), "--reference-accuracy", "0.9", "--no-plot"])

    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:4] == ["strategy", "seeds", "labelled", "AUBC"]
    assert "labels to 95%" in lines[0]
    assert "labels to 99%" in lines[0]
    entropy = next(line for line in lines if line.startswith("entropy"))
    assert "0.7750 ± 0.1061" in entropy
    assert "10-30" in entropy
    assert "0.9000 ± 0.0000" in entropy
    random = next(line for line in lines if line.startswith("random"))
    assert random.count("not reached") == 2
    assert "reference test_accuracy (whole pool): 0.9000" in lines


def test_report_output_defaults_to_run_dir(tmp_path):
    run_dir = write_rounds(tmp_path / "run", CURVES)

    assert main(["report", str(run_dir)]) == 0

    assert (run_dir / "summary.csv").is_file()
    assert (run_dir / "learning_curves.png").is_file()


def test_report_combines_folder_and_file(tmp_path):
    ours = write_rounds(tmp_path / "ours", {key: value for key, value in CURVES.items() if key[0] == "entropy"})
    peers = write_rounds(tmp_path / "peers", {("baal-entropy", 0): [0.5, 0.8, 0.9]})

    status = main(["report", str(ours), str(peers / "rounds.csv"), "--output", str(tmp_path / "out"), "--no-plot"])

    assert status == 0
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    assert summary["strategy"].tolist() == ["entropy", "baal-entropy"]
    assert summary["seeds"].tolist() == [2, 1]


def test_report_reference_from_file(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)
    reference = tmp_path / "reference.csv"
    pd.DataFrame({"seed": [0, 1], "test_accuracy": [0.88, 0.92]}).to_csv(reference, index=False)

    main(["report", str(run_dir), "--reference-accuracy", str(reference), "--no-plot"])

    assert "reference test_accuracy (whole pool): 0.9000" in capsys.readouterr().out
    assert pd.read_csv(run_dir / "summary.csv")["labels_to_95pct"].tolist()[0] == 30


def test_report_reference_from_column(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)
    rounds = pd.read_csv(run_dir / "rounds.csv")
    rounds["reference_accuracy"] = 0.9
    rounds.to_csv(run_dir / "rounds.csv", index=False)

    main(["report", str(run_dir), "--no-plot"])

    assert "reference test_accuracy (whole pool): 0.9000" in capsys.readouterr().out


def test_report_without_reference(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)

    main(["report", str(run_dir), "--no-plot"])

    output = capsys.readouterr().out
    assert "pass --reference-accuracy" in output
    assert "not reached" not in output


def test_report_other_metric(tmp_path):
    run_dir = write_rounds(tmp_path / "run", CURVES)
    rounds = pd.read_csv(run_dir / "rounds.csv")
    rounds["test_f1"] = rounds["test_accuracy"] / 2
    rounds.to_csv(run_dir / "rounds.csv", index=False)

    assert main(["report", str(run_dir), "--metric", "test_f1", "--no-plot"]) == 0

    assert pd.read_csv(run_dir / "summary.csv")["aubc_mean"].tolist() == pytest.approx([0.3875, 0.3375])


def report_error(arguments: list[str], capsys) -> str:
    """Run ``energizer report`` expecting exit status 2; return its error output."""
    with pytest.raises(SystemExit) as raised:
        main(["report", *arguments])
    assert raised.value.code == 2
    return capsys.readouterr().err


def test_missing_path_exits_two(tmp_path, capsys):
    missing = tmp_path / "nowhere"

    error = report_error([str(missing)], capsys)

    assert f"'{missing}' does not exist" in error
    assert "pass the --output-dir of energizer simulate" in error


def test_folder_without_rounds_exits_two(tmp_path, capsys):
    error = report_error([str(tmp_path)], capsys)

    assert f"'{tmp_path}' has no rounds.csv" in error


def test_empty_file_exits_two(tmp_path, capsys):
    path = tmp_path / "rounds.csv"
    path.write_text("")

    error = report_error([str(path)], capsys)

    assert f"'{path}' is empty; run energizer simulate" in error


def test_header_only_file_exits_two(tmp_path, capsys):
    path = tmp_path / "rounds.csv"
    path.write_text("strategy,seed,round,num_labelled,test_accuracy\n")

    error = report_error([str(path)], capsys)

    assert f"'{path}' has no row with a test_accuracy value" in error


def test_missing_columns_exit_two(tmp_path, capsys):
    path = tmp_path / "rounds.csv"
    pd.DataFrame({"strategy": ["random"], "round": [0], "test_accuracy": [0.5]}).to_csv(path, index=False)

    error = report_error([str(path)], capsys)

    assert f"'{path}' has no column seed, num_labelled" in error
    assert "pass a rounds.csv of energizer simulate" in error


def test_unknown_metric_exits_two(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)

    error = report_error([str(run_dir), "--metric", "val_accuracy"], capsys)

    assert "has no column val_accuracy" in error
    assert "pass --metric with one of its columns" in error


def test_repeated_run_exits_two(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)

    error = report_error([str(run_dir), str(run_dir / "rounds.csv")], capsys)

    assert "strategy 'entropy', seed 0, round 0 appears more than once" in error


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("0", "expected a finite number > 0, received '0'"),
        ("-0.5", "expected a finite number > 0, received '-0.5'"),
        ("nan", "expected a finite number > 0, received 'nan'"),
        ("high", "'high' is neither a number nor a file"),
    ],
)
def test_bad_reference_exits_two(value, message, tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)

    error = report_error([str(run_dir), "--reference-accuracy", value], capsys)

    assert f"argument --reference-accuracy: {message}" in error


def test_reference_file_without_metric_exits_two(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)
    reference = tmp_path / "reference.csv"
    pd.DataFrame({"seed": [0], "accuracy": [0.9]}).to_csv(reference, index=False)

    error = report_error([str(run_dir), "--reference-accuracy", str(reference)], capsys)

    assert f"'{reference}' has no test_accuracy values" in error


def test_unequal_budgets_exit_two(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)
    rounds = pd.read_csv(run_dir / "rounds.csv")
    rounds.loc[(rounds["strategy"] == "random") & (rounds["seed"] == 1), "num_labelled"] += 1
    rounds.to_csv(run_dir / "rounds.csv", index=False)

    error = report_error([str(run_dir)], capsys)

    assert "the same num_labelled for every seed of a strategy in a round" in error


def test_report_selects_strategies_in_order(tmp_path):
    run_dir = write_rounds(tmp_path / "run", CURVES)

    assert main(["report", str(run_dir), "--strategies", "random,entropy", "--no-plot"]) == 0
    assert pd.read_csv(run_dir / "summary.csv")["strategy"].tolist() == ["random", "entropy"]

    assert main(["report", str(run_dir), "--strategies", "random", "--no-plot"]) == 0
    assert pd.read_csv(run_dir / "summary.csv")["strategy"].tolist() == ["random"]


def test_unknown_strategy_exits_two(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)

    error = report_error([str(run_dir), "--strategies", "random,coreset"], capsys)

    assert "argument --strategies: no rows for 'coreset'; choose from entropy, random" in error


def test_reference_above_one_for_fractions_exits_two(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)

    error = report_error([str(run_dir), "--reference-accuracy", "95"], capsys)

    assert "95 is above 1 while every test_accuracy value of the runs lies in [0, 1]" in error
    assert "e.g. 0.95 for 95%" in error


def test_reference_above_one_on_larger_scale(tmp_path):
    run_dir = write_rounds(tmp_path / "run", {("random", 0): [50.0, 60.0, 70.0]})

    assert main(["report", str(run_dir), "--reference-accuracy", "80", "--no-plot"]) == 0


def test_cut_last_line_exits_two(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)
    path = run_dir / "rounds.csv"
    path.write_bytes(path.read_bytes() + b"random,2,0")

    error = report_error([str(run_dir)], capsys)

    assert "the last line of" in error
    assert "is incomplete (3 of 5 fields, no line end)" in error
    assert "delete that line" in error


def test_whole_last_line_without_newline(tmp_path):
    run_dir = write_rounds(tmp_path / "run", CURVES)
    path = run_dir / "rounds.csv"
    path.write_bytes(path.read_bytes().rstrip(b"\r\n"))

    assert main(["report", str(run_dir), "--no-plot"]) == 0


def test_row_without_a_key_exits_two(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)
    rounds = pd.read_csv(run_dir / "rounds.csv")
    rounds.loc[2, "num_labelled"] = None
    rounds.to_csv(run_dir / "rounds.csv", index=False)

    error = report_error([str(run_dir)], capsys)

    assert "line 4 of" in error
    assert "has no value in one of the columns strategy, seed, round, num_labelled" in error


def test_single_round_strategy_is_named_in_a_warning(tmp_path, caplog):
    curves = {**CURVES, ("margin", 0): [0.5]}
    run_dir = write_rounds(tmp_path / "run", curves)

    with caplog.at_level("WARNING"):
        assert main(["report", str(run_dir), "--no-plot"]) == 0

    assert "No seed of margin has two rounds or more" in caplog.text


def test_joined_files_with_repeated_header_exit_two(tmp_path, capsys):
    first = write_rounds(tmp_path / "a", {("random", 0): [0.5, 0.6, 0.7]}) / "rounds.csv"
    second = write_rounds(tmp_path / "b", {("random", 1): [0.5, 0.7, 0.8]}) / "rounds.csv"
    joined = tmp_path / "joined.csv"
    joined.write_bytes(first.read_bytes() + second.read_bytes())

    error = report_error([str(joined)], capsys)

    assert f"line 5 of '{joined}' has 'seed' in column seed, where a finite number is expected" in error
    assert "pass each file as its own RUN_DIR instead" in error


@pytest.mark.parametrize("value", ["high", "inf"])
def test_non_numeric_metric_exits_two(value, tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)
    rounds = pd.read_csv(run_dir / "rounds.csv")
    rounds["test_accuracy"] = rounds["test_accuracy"].astype(object)
    rounds.loc[3, "test_accuracy"] = value
    rounds.to_csv(run_dir / "rounds.csv", index=False)

    error = report_error([str(run_dir)], capsys)

    assert f"line 5 of '{run_dir / 'rounds.csv'}' has '{value}' in column test_accuracy" in error


def test_row_without_metric_is_named_in_a_warning(tmp_path, caplog):
    run_dir = write_rounds(tmp_path / "run", CURVES)
    rounds = pd.read_csv(run_dir / "rounds.csv")
    rounds.loc[4, "test_accuracy"] = None
    rounds.to_csv(run_dir / "rounds.csv", index=False)

    with caplog.at_level("WARNING"):
        assert main(["report", str(run_dir), "--no-plot"]) == 0

    assert "1 rows of" in caplog.text
    assert "have no test_accuracy value (first at line 6); the summary leaves them out" in caplog.text


@pytest.mark.parametrize("metric", ["test_loss", "val_error", "fit_seconds", "test_rmse"])
def test_lower_is_better_metric_exits_two(metric, tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)

    error = report_error([str(run_dir), "--metric", metric], capsys)

    assert f"argument --metric: '{metric}' looks like a metric where lower is better" in error


def test_reference_file_with_rounds_exits_two(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)

    error = report_error([str(run_dir), "--reference-accuracy", str(run_dir / "rounds.csv")], capsys)

    assert "has several rows per seed, like a rounds table" in error


def test_reference_file_with_text_exits_two(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)
    reference = tmp_path / "reference.csv"
    pd.DataFrame({"seed": [0, 1], "test_accuracy": [0.9, "unknown"]}).to_csv(reference, index=False)

    error = report_error([str(run_dir), "--reference-accuracy", str(reference)], capsys)

    assert "line 3 of" in error
    assert "has 'unknown' in column test_accuracy, where a finite number is expected" in error


def test_small_reference_above_one_gets_no_percent_hint(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)

    error = report_error([str(run_dir), "--reference-accuracy", "1.5"], capsys)

    assert "1.5 is above 1" in error
    assert "%" not in error.split("argument --reference-accuracy:")[1]


def test_uneven_seeds_warn(tmp_path, caplog):
    curves = {("random", 0): [0.5, 0.6, 0.7], ("random", 1): [0.5, 0.6]}
    run_dir = write_rounds(tmp_path / "run", curves)

    with caplog.at_level("WARNING"):
        assert main(["report", str(run_dir), "--no-plot"]) == 0

    assert "The seeds of random end at different labelled counts (seed 0 at 30, seed 1 at 20)" in caplog.text


def test_text_cell_gets_no_header_hint(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)
    rounds = pd.read_csv(run_dir / "rounds.csv")
    rounds["test_accuracy"] = rounds["test_accuracy"].astype(object)
    rounds.loc[1, "test_accuracy"] = "#DIV/0!"
    rounds.to_csv(run_dir / "rounds.csv", index=False)

    error = report_error([str(run_dir)], capsys)

    assert "has '#DIV/0!' in column test_accuracy, where a finite number is expected; fix or delete that line" in error
    assert "cat" not in error


def test_reference_file_with_inf_names_its_line(tmp_path, capsys):
    run_dir = write_rounds(tmp_path / "run", CURVES)
    reference = tmp_path / "reference.csv"
    pd.DataFrame({"seed": [0, 1], "test_accuracy": [float("inf"), 0.9]}).to_csv(reference, index=False)

    error = report_error([str(run_dir), "--reference-accuracy", str(reference)], capsys)

    assert f"line 2 of '{reference}' has 'inf' in column test_accuracy" in error
