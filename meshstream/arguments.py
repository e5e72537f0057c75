"""Argument types for the `meshstream` command line: every value is checked while parsing.

Why here and not in the commands: argparse runs these before any command connects to anything,
so a typo (`--workflow standrad`, `--listing-price abc USD`, `--bucket ""`) is refused at the
prompt with the valid choices, exit 2 and the usage line, instead of "cannot reach ..." with the
stack down or a dead-lettered run with the stack up. Each type raises
`argparse.ArgumentTypeError`, whose message argparse prints as `argument --x: <message>`.
The choices come from the same files the workers read (schemas/workflows.yaml,
schemas/contracts.yaml, the printer table), so they cannot drift from what the pipeline accepts.
"""
from __future__ import annotations

import argparse
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache

# Units a file's coordinates can be declared in (`--units`); the factors live in processors/.
UNITS = ("mm", "cm", "m", "in")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_IP = re.compile(r"^\d+\.\d+\.\d+\.\d+$")
_CURRENCY = re.compile(r"^[A-Za-z]{3}$")


@lru_cache(maxsize=1)
def _workflows():
    from registry.workflows import default_workflows

    return default_workflows()


def workflow_names() -> list[str]:
    """Workflows a scan can run: the active ones of schemas/workflows.yaml."""
    return [name for name, flow in _workflows().flows.items() if flow.active]


def workflow(text: str) -> str:
    flows = _workflows()
    if text in flows.flows and flows.flows[text].active:
        return text
    known = ", ".join(workflow_names())
    if text in flows.flows:
        raise argparse.ArgumentTypeError(f"workflow {text!r} is {flows.flows[text].status} and cannot run yet; "
                                         f"choose from: {known}")
    raise argparse.ArgumentTypeError(f"unknown workflow {text!r}; choose from: {known} (`meshstream workflows list`)")


@lru_cache(maxsize=1)
def contract_names() -> list[str]:
    """Contracts with a topic the pipeline writes: the active ones of schemas/contracts.yaml."""
    from registry.manifest import default_manifest

    return [c.name for c in default_manifest().active]


def contracts(text: str) -> list[str]:
    """One name or a comma-separated list (`--contract a,b`); every name must be a known contract."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise argparse.ArgumentTypeError("empty contract name; choose from: " + ", ".join(contract_names()))
    unknown = [n for n in names if n not in contract_names()]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown contract(s) {', '.join(map(repr, unknown))}; choose from: "
                                         + ", ".join(contract_names()))
    return names


def bucket(text: str) -> str:
    """An S3 bucket name as S3 accepts it (3-63 characters: lower-case letters, digits, dots, hyphens)."""
    if not text:
        raise argparse.ArgumentTypeError("the bucket name is empty (e.g. --bucket models)")
    if not _BUCKET.match(text) or ".." in text or _IP.match(text):
        raise argparse.ArgumentTypeError(f"{text!r} is not a valid S3 bucket name: 3-63 characters of lower-case "
                                         "letters, digits, '.' and '-', starting and ending with a letter or digit")
    return text


def amount(text: str) -> Decimal:
    """A price in major units with at most two decimals, above zero (12.50)."""
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"price {text!r} is not a number (e.g. --listing-price 12.50 USD)") from None
    if not value.is_finite() or value <= 0:
        raise argparse.ArgumentTypeError(f"price {text!r} must be above zero (e.g. --listing-price 12.50 USD)")
    if value.as_tuple().exponent < -2:
        raise argparse.ArgumentTypeError(f"price {text!r} has more than two decimals (e.g. --listing-price 12.50 USD)")
    return value


def currency(text: str) -> str:
    """An ISO 4217 currency code (three letters)."""
    if not _CURRENCY.match(text):
        raise argparse.ArgumentTypeError(f"currency {text!r} is not a three-letter ISO 4217 code (USD, EUR, GBP, ...)")
    return text.upper()


class Price(argparse.Action):
    """`--listing-price AMOUNT CURRENCY`: (Decimal amount, upper-case currency), each checked."""

    def __call__(self, parser, namespace, values, option_string=None):
        try:
            setattr(namespace, self.dest, (amount(values[0]), currency(values[1])))
        except argparse.ArgumentTypeError as exc:
            raise argparse.ArgumentError(self, str(exc)) from None


def printer_names() -> list[str]:
    from processors.print_analysis import PRINTERS

    return list(PRINTERS)


def printer(text: str) -> str:
    if text not in printer_names():
        raise argparse.ArgumentTypeError(f"unknown printer {text!r}; choose from: "
                                         + ", ".join(map(repr, printer_names())))
    return text


def angle(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of degrees (0 to 90)") from None
    if not 0 <= value <= 90:
        raise argparse.ArgumentTypeError(f"{text} degrees is outside 0 to 90")
    return value


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{value} must be above zero")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} must not be negative")
    return value


def seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text} seconds must be above zero")
    return value


@lru_cache(maxsize=1)
def worker_stages() -> list[str]:
    """What `meshstream worker --stages` can run: discovery, every processing stage, orchestrator."""
    from registry.manifest import default_manifest
    from streams.execution.catalog import processing_stages

    return ["discovery", *processing_stages(default_manifest()), "orchestrator"]


def stages(text: str) -> set[str]:
    names = {s.strip() for s in text.split(",") if s.strip()}
    unknown = sorted(names - set(worker_stages()))
    if not names or unknown:
        raise argparse.ArgumentTypeError(f"unknown stage(s) {', '.join(map(repr, unknown)) or repr(text)}; "
                                         "choose from: " + ", ".join(worker_stages()))
    return names


def position(text: str) -> str:
    """`replay --from/--to`: an offset, an ISO 8601 time or epoch milliseconds (123ms). Checked here,
    returned as typed (the replay command parses it again)."""
    from streams.client.replay import ReplayError, parse_position

    try:
        parse_position(text)
    except ReplayError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    return text


def time_only(text: str) -> str:
    """A time, not an offset (`reset-group --to-time`, `reprocess --since`)."""
    from streams.client.replay import parse_position

    if parse_position(position(text))[0] != "time":
        raise argparse.ArgumentTypeError(f"{text!r} is an offset; give a time (ISO 8601, e.g. 2026-11-25T08:00:00Z, "
                                         "or epoch milliseconds as 123ms)")
    return text
