"""The `meshstream` command: a thin dispatcher over one module per sub-command.

Each module in `meshstream.commands` exposes `register(subparsers)` and attaches a `func` to its
parser; the logic itself lives in registry/, processors/, streams/ or stack/.
"""
from __future__ import annotations

import argparse
import importlib
import sys

# Sub-command modules, in the order `meshstream --help` lists them.
COMMANDS = ("stack", "contracts", "analyze", "worker", "scan", "spool", "subscribe", "replay", "demo")
# commands registered by another command's module (replay also registers `reprocess`)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meshstream", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"meshstream.commands.{name}").register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
