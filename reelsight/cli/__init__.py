"""The ``reelsight`` command line.

Each subcommand lives in its own module under ``reelsight.cli`` and exposes
``register(subparsers)``; the module is imported only to build the parser, and the
heavy imports (torch, boto3, ...) happen inside the command's function, so ``--help``
stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from reelsight import __version__
from reelsight.errors import ReelsightError

# Module names under reelsight.cli, in the order their commands appear in --help.
COMMAND_MODULES: tuple[str, ...] = (
    "run",
    "models",
    "serve",
    "process",
    "local",
    "submit",
    "batch",
    "estimate",
    "api",
    "export",
    "dataset",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="reelsight",
        description="Computer vision on video: sample frames, run a model, write results.",
    )
    parser.add_argument("--version", action="version", version=f"reelsight {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"reelsight.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"reelsight.cli.{name}":
                continue  # that command is not part of this build
            raise
        module.register(subparsers)
    return parser


def run_command(
    parser: argparse.ArgumentParser, argv: Sequence[str] | None = None, *, name: str | None = None
) -> int:
    """Parse ``argv`` and run the chosen command's ``func``; user-facing errors become exit codes."""
    name = name or parser.prog
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ReelsightError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"{name}: interrupted", file=sys.stderr)
        return 130


def main(argv: Sequence[str] | None = None) -> int:
    return run_command(build_parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
