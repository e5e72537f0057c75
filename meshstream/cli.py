"""The `meshstream` command: a thin dispatcher over one module per sub-command.

Each module in `meshstream.commands` exposes `register(subparsers)` and attaches a `func` to its
parser; the logic itself lives in registry/, processors/, streams/ or stack/. Failures end in
one line naming what went wrong and a non-zero exit, never a traceback (unless --verbose).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import sys

# Sub-command modules, in the order `meshstream --help` lists them.
COMMANDS = ("stack", "contracts", "analyze", "worker", "scan", "spool", "subscribe", "status", "replay", "workflows",
            "demo")
# (replay's module also registers `reprocess`)
# What each command talks to, checked before it starts (meshstream.reach). `scan` needs only the
# registry: with the broker down it spools the scan (streams/client/spool.py) and says so.
NEEDS = {"scan": ("registry",), "subscribe": ("broker", "registry"), "replay": ("broker", "registry"),
         "reprocess": ("broker", "registry"), "worker": ("broker", "registry", "s3"), "status": ("api",),
         "contracts register": ("registry",), "contracts diff": ("registry",)}
EXIT_UNREACHABLE = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="meshstream", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true", help="show client library logs and tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMANDS:
        importlib.import_module(f"meshstream.commands.{name}").register(sub)
    return parser


def _needs(args) -> tuple[str, ...]:
    key = args.command if args.command != "contracts" else f"contracts {args.contracts_command}"
    needs = NEEDS.get(key, ())
    if args.command == "scan" and getattr(args, "via_manifest", False):
        needs += ("s3",)
    if args.command == "scan" and getattr(args, "wait", False):
        needs += ("api",)
    return needs


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:  # client libraries' chatter stays out of the user's terminal
        for name in ("confluent_kafka", "aiokafka", "urllib3", "httpx", "httpcore", "kafka"):
            logging.getLogger(name).setLevel(logging.CRITICAL)
    try:
        needs = _needs(args)
        if needs:
            from meshstream.reach import check
            from streams.core.settings import Settings

            check(Settings(), needs, registry_url=getattr(args, "registry_url", None))
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - the one-line failure is the point
        from meshstream.reach import Unreachable

        if args.verbose:
            raise
        print(f"meshstream {args.command}: {exc}" if isinstance(exc, Unreachable)
              else f"meshstream {args.command}: error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                   " (run with --verbose for details)", file=sys.stderr)
        return EXIT_UNREACHABLE if isinstance(exc, Unreachable) else 1


if __name__ == "__main__":
    sys.exit(main())
