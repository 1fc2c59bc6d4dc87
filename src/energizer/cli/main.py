"""Entry point of the ``energizer`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from energizer.cli import label, report, simulate
from energizer.errors import EnergizerError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of ``energizer`` and its subcommands."""
    parser = argparse.ArgumentParser(
        prog="energizer",
        description="Pool-based active learning on PyTorch Lightning.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    simulate.add_parser(commands)
    label.add_parser(commands)
    report.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line with ``argv`` (``sys.argv[1:]`` by default); return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return args.run(args, args.command_parser)
    except EnergizerError as error:
        print(f"energizer {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"energizer {args.command}: interrupted{_resume_hint(args)}", file=sys.stderr)
        return 130


def _resume_hint(args: argparse.Namespace) -> str:
    """Return how to continue an interrupted command: with --resume once a run state is saved."""
    if not hasattr(args, "resume") or getattr(args, "mode", "pool") != "pool":
        return ""
    output_dir = Path(args.output_dir)
    saved = any(output_dir.glob("run/state.json")) or any(output_dir.glob("runs/*/state.json"))
    if not saved:
        return "; nothing was saved yet, so run the same command again to start over"
    if getattr(args, "overwrite", False):
        return "; run the command again with --resume in place of --overwrite to continue"
    return "; run the same command with --resume to continue"


if __name__ == "__main__":
    sys.exit(main())
