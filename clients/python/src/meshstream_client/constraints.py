"""Enforce the constraints Avro cannot express (Etsy's 140-character title, 13 tags, a price
above 0, ...) with the same rules, messages and field paths as the workers' checker.

The constraints come from the generated contract table (declared in the .avsc files as
`meshstream.*` properties, flattened to paths by `meshstream contracts generate`), so this client
cannot enforce a different limit than the workers do; the unit tests run both checkers over the
same records. A violation names the field: `payload.listing.title`, array elements as `tags[3]`,
map values as `sizes['k']`.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import Any, Callable

from meshstream_client.contract import ContractInfo
from meshstream_client.errors import ContractViolation

PREFIX = "meshstream."
Check = Callable[[Any, str], None]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _fail(path: str, key: str, reason: str) -> None:
    raise ContractViolation(path, reason, key)


def _sized(value: Any) -> bool:
    return isinstance(value, (str, bytes))


def _counted(value: Any) -> bool:
    return isinstance(value, (list, tuple, dict))


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _checks(spec: dict[str, Any]) -> list[Check]:
    checks: list[Check] = []
    for key, bound in spec.items():
        if key == "minLength":
            checks.append(lambda v, p, b=bound: _sized(v) and len(v) < b and _fail(
                p, "minLength", f"length {len(v)} is below {PREFIX}minLength {b}"))
        elif key == "maxLength":
            checks.append(lambda v, p, b=bound: _sized(v) and len(v) > b and _fail(
                p, "maxLength", f"length {len(v)} exceeds {PREFIX}maxLength {b}"))
        elif key == "pattern":
            rx = re.compile(bound)
            checks.append(lambda v, p, rx=rx: isinstance(v, str) and rx.search(v) is None and _fail(
                p, "pattern", f"{_short(v)} does not match {PREFIX}pattern {rx.pattern}"))
        elif key == "enum":
            allowed = frozenset(bound)
            checks.append(lambda v, p, a=allowed, b=bound: isinstance(v, str) and v not in a and _fail(
                p, "enum", f"{_short(v)} is not one of {PREFIX}enum {list(b)}"))
        elif key == "minItems":
            checks.append(lambda v, p, b=bound: _counted(v) and len(v) < b and _fail(
                p, "minItems", f"{len(v)} items, {PREFIX}minItems is {b}"))
        elif key == "maxItems":
            checks.append(lambda v, p, b=bound: _counted(v) and len(v) > b and _fail(
                p, "maxItems", f"{len(v)} items exceed {PREFIX}maxItems {b}"))
        elif key == "uniqueItems":
            if bound:
                checks.append(_unique)
        elif key in _BOUNDS:
            broken, word = _BOUNDS[key]
            checks.append(lambda v, p, b=bound, k=key, broken=broken, word=word: _number(v) and broken(v, b) and _fail(
                p, k, f"{v!r} is {word} {PREFIX}{k} {b!r}"))
        else:
            raise ContractViolation("", f"unknown constraint {PREFIX}{key} in the generated table (regenerate the client)")
    return checks


_BOUNDS = {
    "minimum": (lambda v, b: v < b, "below"),
    "maximum": (lambda v, b: v > b, "above"),
    "exclusiveMinimum": (lambda v, b: v <= b, "not above"),
    "exclusiveMaximum": (lambda v, b: v >= b, "not below"),
}


def _unique(value: Any, path: str) -> None:
    if isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if item in value[:i]:
                _fail(f"{path}[{i}]", "uniqueItems", f"duplicate item {_short(item)} ({PREFIX}uniqueItems)")


class _Node:
    """One step of the constraint paths, as a tree: a record is walked once whatever the number
    of constraints, in the order the workers' checker visits it (a field's own checks, then its
    elements or fields), so the first violation reported is the same one."""

    __slots__ = ("checks", "children")

    def __init__(self) -> None:
        self.checks: list[Check] = []
        self.children: dict[str, _Node] = {}


@lru_cache(maxsize=None)
def _compiled(contract: ContractInfo) -> _Node:
    root = _Node()
    for path, spec in contract.constraints:
        node = root
        for segment in path:
            node = node.children.setdefault(segment, _Node())
        node.checks.extend(_checks(spec))
    return root


def _visit(value: Any, node: _Node, path: str) -> None:
    if value is None:  # a nullable field is checked only when it holds a value
        return
    for check in node.checks:
        check(value, path)
    for head, child in node.children.items():
        if head == "[]":
            if isinstance(value, (list, tuple)):
                for i, item in enumerate(value):
                    _visit(item, child, f"{path}[{i}]")
        elif head == "{}":
            if isinstance(value, dict):
                for k, item in value.items():
                    _visit(item, child, f"{path}[{k!r}]")
        elif isinstance(value, dict):
            _visit(value.get(head), child, f"{path}.{head}" if path else head)


def check_record(contract: ContractInfo, record: dict[str, Any]) -> None:
    """Raise ContractViolation if `record` ({envelope, payload}) breaks a declared constraint."""
    _visit(record, _compiled(contract), "")
