"""Typed payloads from what a caller hands the publisher: a generated class, or a plain dict.

A dict may leave out every field whose schema declares a default (as Avro readers do); the
defaults come from the generated schema text, the one place they are written. The result goes
through the generated class (`from_avro`), so an unknown field, a missing required one or an
enum symbol the contract does not have is refused before anything is sent.
"""
from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import fastavro

from meshstream_client.contract import ContractInfo
from meshstream_client.errors import ContractViolation

_MISSING = object()


@lru_cache(maxsize=None)
def _payload_schema(contract: ContractInfo) -> tuple[Any, dict[str, Any]]:
    named: dict[str, Any] = {}
    parsed = fastavro.parse_schema(json.loads(contract.schema), named_schemas=named)
    payload = next(f["type"] for f in parsed["fields"] if f["name"] == "payload")
    return payload, named


def with_defaults(schema: Any, value: Any, named: dict[str, Any], path: str) -> Any:
    """`value` with every absent field that has a default filled in, recursively (generated
    objects anywhere in it become their dicts)."""
    if hasattr(value, "to_avro"):
        value = value.to_avro()
    if isinstance(schema, str):
        schema = named.get(schema, schema)
    if isinstance(schema, list):  # a union: a dict goes by the record branch, a str by an enum's
        branches = [named.get(b, b) if isinstance(b, str) else b for b in schema]
        kinds = {b.get("type") if isinstance(b, dict) else b: b for b in branches}
        if isinstance(value, dict) and "record" in kinds:
            return with_defaults(kinds["record"], value, named, path)
        if isinstance(value, str) and "enum" in kinds and "string" not in kinds:
            return with_defaults(kinds["enum"], value, named, path)
        return value
    if not isinstance(schema, dict):
        return value
    kind = schema.get("type")
    if kind == "record" and isinstance(value, dict):
        names = [f["name"] for f in schema["fields"]]
        unknown = sorted(set(value) - set(names))
        if unknown:
            raise ContractViolation(f"{path}.{unknown[0]}", f"unknown field (fields of {schema['name']}: {', '.join(names)})")
        out = {}
        for f in schema["fields"]:
            if f["name"] in value:
                out[f["name"]] = with_defaults(f["type"], value[f["name"]], named, f"{path}.{f['name']}")
            elif f.get("default", _MISSING) is not _MISSING:
                out[f["name"]] = f["default"]
            else:
                raise ContractViolation(f"{path}.{f['name']}", "required field is missing")
        return out
    if kind == "enum" and isinstance(value, str) and value not in schema["symbols"]:
        raise ContractViolation(path, f"{value!r} is not one of {', '.join(schema['symbols'])}")
    if kind == "array" and isinstance(value, (list, tuple)):
        return [with_defaults(schema["items"], v, named, f"{path}[{i}]") for i, v in enumerate(value)]
    if kind == "map" and isinstance(value, dict):
        return {k: with_defaults(schema["values"], v, named, f"{path}[{k!r}]") for k, v in value.items()}
    return value


def payload_dict(contract: ContractInfo, payload: Any) -> dict[str, Any]:
    """The Avro dict of a payload given as a generated object or a (partial) dict, checked
    against the generated class."""
    from meshstream_client.generated import EVENTS

    if hasattr(payload, "to_avro"):
        payload = payload.to_avro()
    if not isinstance(payload, dict):
        raise ContractViolation("payload", f"expected a dict or a generated payload class, not {type(payload).__name__}")
    schema, named = _payload_schema(contract)
    filled = with_defaults(schema, payload, named, "payload")
    payload_cls = _payload_class(EVENTS[contract.name])
    try:
        return payload_cls.from_avro(filled).to_avro()
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise ContractViolation("payload", f"not a {contract.name} payload: {type(exc).__name__}: {exc}") from exc


@lru_cache(maxsize=None)
def _payload_class(event_cls: type) -> type:
    import typing

    return typing.get_type_hints(event_cls)["payload"]
