"""Constraints Avro cannot express, declared in the schema and enforced on produce and consume.

Avro types say "string" or "array of string"; Etsy says "at most 140 characters" and "at most 13
tags of at most 20 characters". Those limits are part of the contract, so they live in the
`.avsc` as custom field properties (Avro keeps unknown properties and ignores them when
resolving), and this module enforces them:

    {"name": "title", "type": "string", "meshstream.maxLength": 140}
    {"name": "tags", "type": {"type": "array", "items": "string"},
     "meshstream.maxItems": 13, "meshstream.items": {"maxLength": 20}}

Properties (on a field; `meshstream.items` holds the same keys, without the prefix, for every
element of an array or value of a map):

    minLength / maxLength      string (characters) or bytes (bytes)
    pattern                    string; Python `re.search` (anchor it with ^...$)
    enum                       string; the value must be one of the listed strings
    minItems / maxItems        array or map (entries)
    uniqueItems                array; no two equal elements
    minimum / maximum          int, long, float, double (inclusive)
    exclusiveMinimum / exclusiveMaximum   the same, exclusive

A nullable field (`["null", T]`) is checked only when it holds a value. Unknown `meshstream.*`
properties, a constraint on a type it cannot apply to and a pattern that does not compile are
schema errors (`ConstraintSchemaError`), found by `contracts check` and at first use.

`check_record(schema, record)` compiles a checker once per schema object (only the fields that
carry constraints, and the records that lead to them, are visited at run time) and raises
`ConstraintViolation` naming the field path, e.g. `payload.listing.title`.
"""
from __future__ import annotations

import re
import threading
from typing import Any, Callable

PREFIX = "meshstream."
LENGTH_KEYS = ("minLength", "maxLength")
ITEM_COUNT_KEYS = ("minItems", "maxItems", "uniqueItems")
NUMBER_KEYS = ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")
STRING_KEYS = ("pattern", "enum")
VALUE_KEYS = LENGTH_KEYS + ITEM_COUNT_KEYS + NUMBER_KEYS + STRING_KEYS
KNOWN = VALUE_KEYS + ("items",)

_NUMERIC = {"int", "long", "float", "double"}
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


class ConstraintViolation(ValueError):
    """A value breaks a declared constraint. `.field` is the path, e.g. `payload.listing.title`."""

    def __init__(self, field: str, message: str, constraint: str | None = None):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.constraint = constraint
        self.reason = message


class ConstraintSchemaError(ValueError):
    """A schema declares a constraint that is unknown, malformed or cannot apply to its type."""


Check = Callable[[Any, str], None]


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


# -- compiling the leaf checks ------------------------------------------------------------------
def _value_checks(spec: dict[str, Any], kinds: set[str], where: str) -> list[Check]:
    """Checks for one value given `spec` (keys without prefix) and the Avro kinds it may have."""
    checks: list[Check] = []
    for key in spec:
        if key not in VALUE_KEYS:
            raise ConstraintSchemaError(f"{where}: unknown constraint {PREFIX}{key}")

    def need(key: str, allowed: set[str]) -> None:
        if not kinds & allowed:
            raise ConstraintSchemaError(
                f"{where}: {PREFIX}{key} cannot apply to {'/'.join(sorted(kinds)) or 'this type'}")

    def num(key: str) -> float:
        v = spec[key]
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise ConstraintSchemaError(f"{where}: {PREFIX}{key} must be a number, not {v!r}")
        return v

    def count(key: str) -> int:
        v = spec[key]
        if isinstance(v, bool) or not isinstance(v, int) or v < 0:
            raise ConstraintSchemaError(f"{where}: {PREFIX}{key} must be a non-negative integer, not {v!r}")
        return v

    if "minLength" in spec:
        need("minLength", {"string", "bytes"})
        lo = count("minLength")

        def min_length(v, path, lo=lo):
            if isinstance(v, (str, bytes)) and len(v) < lo:
                raise ConstraintViolation(path, f"length {len(v)} is below {PREFIX}minLength {lo}", "minLength")
        checks.append(min_length)
    if "maxLength" in spec:
        need("maxLength", {"string", "bytes"})
        hi = count("maxLength")

        def max_length(v, path, hi=hi):
            if isinstance(v, (str, bytes)) and len(v) > hi:
                raise ConstraintViolation(path, f"length {len(v)} exceeds {PREFIX}maxLength {hi}", "maxLength")
        checks.append(max_length)
    if "pattern" in spec:
        need("pattern", {"string"})
        try:
            rx = re.compile(spec["pattern"])
        except (re.error, TypeError) as exc:
            raise ConstraintSchemaError(f"{where}: {PREFIX}pattern does not compile: {exc}") from exc

        def pattern(v, path, rx=rx):
            if isinstance(v, str) and rx.search(v) is None:
                raise ConstraintViolation(path, f"{_short(v)} does not match {PREFIX}pattern {rx.pattern}", "pattern")
        checks.append(pattern)
    if "enum" in spec:
        need("enum", {"string"})
        allowed = spec["enum"]
        if not isinstance(allowed, list) or not allowed or not all(isinstance(a, str) for a in allowed):
            raise ConstraintSchemaError(f"{where}: {PREFIX}enum must be a non-empty list of strings")
        allowed_set = frozenset(allowed)

        def enum(v, path, allowed_set=allowed_set, allowed=tuple(allowed)):
            if isinstance(v, str) and v not in allowed_set:
                raise ConstraintViolation(path, f"{_short(v)} is not one of {PREFIX}enum {list(allowed)}", "enum")
        checks.append(enum)
    if "minItems" in spec:
        need("minItems", {"array", "map"})
        lo = count("minItems")

        def min_items(v, path, lo=lo):
            if isinstance(v, (list, tuple, dict)) and len(v) < lo:
                raise ConstraintViolation(path, f"{len(v)} items, {PREFIX}minItems is {lo}", "minItems")
        checks.append(min_items)
    if "maxItems" in spec:
        need("maxItems", {"array", "map"})
        hi = count("maxItems")

        def max_items(v, path, hi=hi):
            if isinstance(v, (list, tuple, dict)) and len(v) > hi:
                raise ConstraintViolation(path, f"{len(v)} items exceed {PREFIX}maxItems {hi}", "maxItems")
        checks.append(max_items)
    if spec.get("uniqueItems"):
        need("uniqueItems", {"array"})

        def unique_items(v, path):
            if isinstance(v, (list, tuple)):
                seen = []
                for i, item in enumerate(v):
                    if item in seen:
                        raise ConstraintViolation(f"{path}[{i}]", f"duplicate item {_short(item)} ({PREFIX}uniqueItems)", "uniqueItems")
                    seen.append(item)
        checks.append(unique_items)
    for key, op, word in (("minimum", float.__lt__, "below"), ("maximum", float.__gt__, "above"),
                          ("exclusiveMinimum", float.__le__, "not above"),
                          ("exclusiveMaximum", float.__ge__, "not below")):
        if key in spec:
            need(key, _NUMERIC)
            bound = num(key)

            def bound_check(v, path, bound=bound, op=op, word=word, key=key):
                if isinstance(v, (int, float)) and not isinstance(v, bool) and op(float(v), float(bound)):
                    raise ConstraintViolation(path, f"{v!r} is {word} {PREFIX}{key} {bound!r}", key)
            checks.append(bound_check)
    return checks


# -- compiling the schema tree --------------------------------------------------------------------
class _Compiler:
    def __init__(self) -> None:
        self.named: dict[str, Any] = {}  # full name -> schema node
        self.records: dict[str, Check | None] = {}  # full name -> compiled checker (None = nothing to check)
        self.pending: dict[str, list] = {}  # recursive references under construction

    @staticmethod
    def _full(node: dict, ns: str | None) -> str:
        name = node["name"]
        if "." in name:
            return name
        ns = node.get("namespace", ns)
        return f"{ns}.{name}" if ns else name

    def resolve(self, node: Any, ns: str | None) -> tuple[Any, str | None]:
        """Follow a named reference to its definition (registering definitions as met)."""
        if isinstance(node, dict) and isinstance(node.get("type"), (dict, list)):
            return self.resolve(node["type"], ns)
        if isinstance(node, dict) and node.get("type") in ("record", "error", "enum", "fixed"):
            full = self._full(node, ns)
            self.named.setdefault(full, node)
            return node, full.rsplit(".", 1)[0] if "." in full else None
        if isinstance(node, str) and node not in _PRIMITIVES:
            full = node if "." in node or ns is None else f"{ns}.{node}"
            target = self.named.get(full) or self.named.get(node)
            if target is None:
                raise ConstraintSchemaError(f"unknown named type {node!r}")
            tfull = self._full(target, ns)
            return target, tfull.rsplit(".", 1)[0] if "." in tfull else None
        if isinstance(node, dict) and isinstance(node.get("type"), str) and node["type"] in _PRIMITIVES:
            return node["type"], ns  # {"type": "long", "logicalType": ...}
        return node, ns

    def kinds(self, node: Any, ns: str | None) -> set[str]:
        node, _ = self.resolve(node, ns)
        if isinstance(node, list):
            out: set[str] = set()
            for b in node:
                out |= self.kinds(b, ns)
            return out - {"null"} if len(out) > 1 else out
        if isinstance(node, str):
            return {node}
        return {node["type"]}

    def register_all(self, node: Any, ns: str | None) -> None:
        """Pre-register every named definition so forward references resolve."""
        if isinstance(node, list):
            for b in node:
                self.register_all(b, ns)
        elif isinstance(node, dict):
            kind = node.get("type")
            if kind in ("record", "error", "enum", "fixed"):
                full = self._full(node, ns)
                self.named.setdefault(full, node)
                inner = full.rsplit(".", 1)[0] if "." in full else None
                for f in node.get("fields", []):
                    self.register_all(f["type"], inner)
            elif kind == "array":
                self.register_all(node["items"], ns)
            elif kind == "map":
                self.register_all(node["values"], ns)
            elif isinstance(kind, (dict, list)):
                self.register_all(kind, ns)

    # A "type checker" validates a value of some Avro type (descending into records/arrays/maps).
    def type_checker(self, node: Any, ns: str | None, where: str, item_spec: dict | None = None) -> Check | None:
        node, ns = self.resolve(node, ns)
        if isinstance(node, list):
            return self.union_checker(node, ns, where)
        if isinstance(node, str):
            return None
        kind = node["type"]
        if kind in ("record", "error"):
            return self.record_checker(node, ns)
        if kind in ("array", "map"):
            child = node["items"] if kind == "array" else node["values"]
            leaf = _value_checks(item_spec, self.kinds(child, ns), f"{where} items") if item_spec else []
            inner = self.type_checker(child, ns, f"{where}[]")
            steps = leaf + ([inner] if inner else [])
            if not steps:
                return None
            if kind == "array":
                def array_check(v, path, steps=tuple(steps)):
                    if isinstance(v, (list, tuple)):
                        for i, item in enumerate(v):
                            if item is None:
                                continue
                            p = f"{path}[{i}]"
                            for s in steps:
                                s(item, p)
                return array_check

            def map_check(v, path, steps=tuple(steps)):
                if isinstance(v, dict):
                    for k, item in v.items():
                        if item is None:
                            continue
                        p = f"{path}[{k!r}]"
                        for s in steps:
                            s(item, p)
            return map_check
        return None  # enum, fixed: nothing Avro itself does not already check

    def union_checker(self, branches: list, ns: str | None, where: str) -> Check | None:
        records = []
        for b in branches:
            target, tns = self.resolve(b, ns)
            if isinstance(target, dict) and target.get("type") in ("record", "error"):
                chk = self.record_checker(target, tns)
                records.append((self._full(target, tns), {f["name"] for f in target["fields"]},
                                {f["name"] for f in target["fields"] if "default" not in f}, chk))
            elif isinstance(target, dict) and target.get("type") in ("array", "map"):
                if self.type_checker(target, tns, where) is not None:
                    raise ConstraintSchemaError(f"{where}: constraints inside an array/map union branch are not supported")
        if not any(r[3] for r in records):
            return None
        if len(records) == 1:
            only = records[0][3]
            return only

        def union_check(v, path, records=tuple(records)):
            if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], str):  # fastavro's (name, value)
                name, v = v
                cands = [r for r in records if r[0] == name or r[0].endswith("." + name)]
            elif isinstance(v, dict):
                name = v.get("-type")
                if name:
                    cands = [r for r in records if r[0] == name or r[0].endswith("." + name)]
                else:
                    keys = set(v)
                    cands = [r for r in records if keys <= r[1] and r[2] <= keys]
            else:
                return
            if cands and cands[0][3]:
                cands[0][3](v, path)
        return union_check

    def record_checker(self, node: dict, ns: str | None) -> Check | None:
        full = self._full(node, ns)
        if full in self.records:
            return self.records[full]
        if full in self.pending:  # recursive type: defer to the finished checker
            def deferred(v, path, full=full):
                chk = self.records.get(full)
                if chk:
                    chk(v, path)
            self.pending[full].append(True)
            return deferred
        self.pending[full] = []
        inner_ns = full.rsplit(".", 1)[0] if "." in full else None
        fields: list[tuple[str, tuple[Check, ...]]] = []
        for f in node["fields"]:
            where = f"{full}.{f['name']}"
            spec = {k[len(PREFIX):]: v for k, v in f.items() if k.startswith(PREFIX)}
            item_spec = spec.pop("items", None)
            for key in spec:
                if key not in KNOWN:
                    raise ConstraintSchemaError(f"{where}: unknown constraint {PREFIX}{key}")
            if item_spec is not None:
                if not isinstance(item_spec, dict):
                    raise ConstraintSchemaError(f"{where}: {PREFIX}items must be an object of constraints")
                if not self.kinds(f["type"], inner_ns) & {"array", "map"}:
                    raise ConstraintSchemaError(f"{where}: {PREFIX}items needs an array or map type")
            steps = _value_checks(spec, self.kinds(f["type"], inner_ns), where) if spec else []
            target, tns = self.resolve(f["type"], inner_ns)
            if isinstance(target, list):
                non_null = [b for b in target if b != "null"]
                if item_spec is not None and len(non_null) == 1:
                    sub = self.type_checker(non_null[0], tns, where, item_spec)
                elif item_spec is not None:
                    raise ConstraintSchemaError(f"{where}: {PREFIX}items needs a single array/map type")
                else:
                    sub = self.union_checker(target, tns, where)
            else:
                sub = self.type_checker(target, tns, where, item_spec)
            if sub:
                steps.append(sub)
            if steps:
                fields.append((f["name"], tuple(steps)))
        recursive = bool(self.pending.pop(full))
        if not fields:
            self.records[full] = None
            if recursive:  # deferred references resolve to "nothing to check"
                pass
            return None

        def record_check(v, path, fields=tuple(fields)):
            if not isinstance(v, dict):
                return
            for name, steps in fields:
                value = v.get(name)
                if value is None:
                    continue
                p = f"{path}.{name}" if path else name
                for s in steps:
                    s(value, p)
        self.records[full] = record_check
        return record_check


def compile_schema(schema: Any) -> Check | None:
    """A checker for records of `schema` (expanded Avro dict), or None when nothing is constrained.

    Raises ConstraintSchemaError when a declared constraint is malformed.
    """
    comp = _Compiler()
    comp.register_all(schema, None)
    return comp.type_checker(schema, None, "<root>")


_cache: dict[int, tuple[Any, Check | None]] = {}
_lock = threading.Lock()


def checker_for(schema: Any) -> Check | None:
    """The compiled checker for this schema object (compiled once; keyed by identity)."""
    entry = _cache.get(id(schema))
    if entry is not None and entry[0] is schema:
        return entry[1]
    chk = compile_schema(schema)
    with _lock:
        _cache[id(schema)] = (schema, chk)  # holding `schema` keeps its id from being reused
    return chk


def check_record(schema: dict, record: dict) -> None:
    """Raise ConstraintViolation if `record` breaks a constraint declared in `schema`."""
    chk = checker_for(schema)
    if chk is not None:
        chk(record, "")


def constraint_problems(schema: Any) -> list[str]:
    """Schema errors in the declared constraints (empty when all are well-formed)."""
    try:
        compile_schema(schema)
    except ConstraintSchemaError as exc:
        return [str(exc)]
    return []


def declared_constraints(field: dict) -> dict[str, Any]:
    """The constraints declared on one field, without the prefix (for docs and code generators)."""
    return {k[len(PREFIX):]: v for k, v in field.items() if k.startswith(PREFIX)}
