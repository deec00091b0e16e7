"""The `cds-cyto` command line: one sub-command per module, each registering itself.

A sub-command module exposes `register(subparsers)`, which adds its parser and sets `func(args) -> int` as the
parser default. Errors that a user can fix are printed as one line on stderr with exit code 2; nothing prints a
traceback for bad input.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

__all__ = ["CliError", "main"]

# Sub-command modules, in the order `--help` lists them.
_COMMANDS = (
    "evaluate",
    "serve",
    "simulate",
    "fixtures",
    "feedback",
    "sweep",
    "worklist",
    "analyze",
    "plot",
)


class CliError(Exception):
    """A problem the user can fix; printed as one line, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cds-cyto",
        description="Decision support for cytopenia after CAR-T cell therapy.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _COMMANDS:
        try:
            module = importlib.import_module(f"cds_cyto.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"cds_cyto.cli.{name}":
                raise
            continue  # not built yet
        module.register(sub)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("cds-cyto")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        return int(func(args))
    except CliError as exc:
        print(f"cds-cyto: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
