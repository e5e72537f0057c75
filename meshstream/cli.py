"""The `meshstream` command: a thin dispatcher over one module per sub-command.

Each module in `meshstream.commands` exposes `register(subparsers)` and attaches a `func` to its
parser; the logic itself lives in registry/, processors/, streams/ or stack/. Failures end in
one line naming what went wrong and a non-zero exit, never a traceback (unless --verbose).
Arguments are checked while parsing (meshstream.arguments), before anything connects: a bad
value exits 2 with the valid choices. `-v/--verbose` is accepted before or after the sub-command.
A reader that stops early (`meshstream workflows list --json | head -1`) ends the command quietly
with exit 141 (128 + SIGPIPE, what a shell reports for tools killed by the closed pipe).
"""
from __future__ import annotations

import argparse
import importlib
import logging
import os
import sys

# Sub-command modules, in the order `meshstream --help` lists them.
COMMANDS = ("stack", "contracts", "analyze", "upload", "worker", "scan", "spool", "subscribe", "status", "replay", "workflows",
            "demo")
# (replay's module also registers `reprocess`)
# What each command talks to, checked before it starts (meshstream.reach). `scan` needs only the
# registry: with the broker down it spools the scan (streams/client/spool.py) and says so.
NEEDS = {"upload": ("s3",), "scan": ("registry",), "subscribe": ("broker", "registry"), "replay": ("broker", "registry"),
         "reprocess": ("broker", "registry"), "worker": ("broker", "registry", "s3"), "status": ("api",),
         "contracts register": ("registry",), "contracts diff": ("registry",)}
EXIT_UNREACHABLE = 3
EXIT_BROKEN_PIPE = 141
# Loggers of the client libraries (librdkafka reaches Python logging as "librdkafka": see
# streams.core.security.kafka_client_config); silenced unless --verbose.
QUIET_LOGGERS = ("librdkafka", "confluent_kafka", "aiokafka", "urllib3", "httpx", "httpcore", "kafka")
EXAMPLES = """examples:
  meshstream stack up && eval "$(meshstream stack env)"
  meshstream upload --samples --bucket models --prefix first/     # or: upload DIR
  meshstream scan --bucket models --prefix first/ --wait
  meshstream subscribe --contract processing.completed,processing.failed --timeout 60
  meshstream status
  meshstream analyze vase.glb --units mm
"""


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Shows each option's default when it has a meaningful one (not None, False or empty), and
    keeps the description's and epilog's line breaks (the examples)."""

    def _get_help_string(self, action):
        help_text = action.help or ""
        default = action.default
        if ("%(default)" in help_text or "default" in help_text.lower() or default in (None, False, [], "")
                or default is argparse.SUPPRESS or action.option_strings == [] and action.nargs in ("?", "*")):
            return help_text
        return help_text + " (default: %(default)s)"


def _verbose_flag(parser: argparse.ArgumentParser, top: bool) -> None:
    # SUPPRESS on sub-parsers: a sub-command's parser does not reset what the top level set
    parser.add_argument("-v", "--verbose", action="store_true", default=False if top else argparse.SUPPRESS,
                        help="show client library logs and tracebacks")


def _finish(parser: argparse.ArgumentParser, top: bool = True) -> None:
    """Every (sub-)parser: the help formatter, and -v/--verbose accepted at any level."""
    parser.formatter_class = HelpFormatter
    if not top:
        _verbose_flag(parser, top=False)
    for action in parser._actions:  # noqa: SLF001 - argparse has no public walk over sub-parsers
        if isinstance(action, argparse._SubParsersAction):  # noqa: SLF001
            for child in dict.fromkeys(action.choices.values()):
                _finish(child, top=False)


def build_parser() -> argparse.ArgumentParser:
    from meshstream import __version__

    parser = argparse.ArgumentParser(
        prog="meshstream", epilog=EXAMPLES,
        description="meshstream: contract-first event streaming for 3D models on Kafka. "
                    "`meshstream COMMAND --help` shows a command's options, defaults and examples.")
    _verbose_flag(parser, top=True)
    parser.add_argument("--version", action="version", version=f"meshstream {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        importlib.import_module(f"meshstream.commands.{name}").register(sub)
    _finish(parser)
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
    try:
        return _main(argv)
    except BrokenPipeError:
        # the reader went away: say nothing, and keep the interpreter's final flush from
        # raising again on the dead pipe (Python docs, "Note on SIGPIPE")
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE


def silence_client_logs() -> None:
    """Client libraries' chatter (librdkafka's connection failures, urllib3 retries) stays out of
    the user's terminal; the one-line error says what is wrong."""
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL)


def _main(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "validate", None):  # checks across arguments, still before any connection
        args.validate(args)
    if not args.verbose:
        silence_client_logs()
    try:
        needs = _needs(args)
        if needs:
            from meshstream.reach import check
            from streams.core.settings import Settings

            check(Settings(), needs, registry_url=getattr(args, "registry_url", None))
        code = int(args.func(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, inside main, not at interpreter exit
        return code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise
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
