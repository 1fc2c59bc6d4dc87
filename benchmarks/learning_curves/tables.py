"""Print the Markdown tables of docs/benchmarks.md from the outputs of run_curves.py and energizer report.

For each data set folder it prints the summary.csv that ``energizer report``
wrote as a Markdown table, and how often each peer chose exactly the same
items as the energizer strategy with the same rule (same seed and round).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

# Peer method -> the energizer strategy with the same selection rule.
COUNTERPARTS = {
    "baal-entropy": "entropy",
    "baal-margin": "margin",
    "baal-bald": "bald",
    "skactiveml-entropy": "entropy",
    "skactiveml-margin": "margin",
    "modal-entropy": "entropy",
}


def markdown_summary(summary: pd.DataFrame) -> str:
    header = "| strategy | seeds | AUBC (mean ± std) | labels to 95% | labels to 99% | final accuracy (mean ± std) |"
    lines = [header, "|---|---:|---:|---:|---:|---:|"]
    for row in summary.itertuples(index=False):
        reach = ["not reached" if pd.isna(value) else str(int(value)) for value in (row.labels_to_95pct, row.labels_to_99pct)]
        lines.append(
            f"| {row.strategy} | {row.seeds} | {row.aubc_mean:.4f} ± {row.aubc_std:.4f} | {reach[0]} | {reach[1]} "
            f"| {row.final_mean:.4f} ± {row.final_std:.4f} |"
        )
    return "\n".join(lines)


def peer_agreement(rounds: pd.DataFrame) -> str:
    queried = rounds[rounds["queried_ids"].notna()].set_index(["strategy", "seed", "round"])["queried_ids"]
    lines = []
    for peer, ours in COUNTERPARTS.items():
        if peer not in queried.index.get_level_values(0) or ours not in queried.index.get_level_values(0):
            continue
        peer_sets = queried.loc[peer].map(lambda ids: frozenset(str(ids).split()))
        our_sets = queried.loc[ours].map(lambda ids: frozenset(str(ids).split()))
        common = peer_sets.index.intersection(our_sets.index)
        same = int((peer_sets.loc[common] == our_sets.loc[common]).sum())
        lines.append(f"- {peer} chose the same items as {ours} in {same} of {len(common)} queries")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--results", type=Path, required=True, help="folder with rounds.csv from run_curves.py")
    parser.add_argument("--summary", type=Path, required=True, help="summary.csv written by energizer report")
    args = parser.parse_args()
    print(markdown_summary(pd.read_csv(args.summary)))
    print()
    print(peer_agreement(pd.read_csv(args.results / "rounds.csv")))


if __name__ == "__main__":
    main()
