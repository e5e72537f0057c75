"""Turn an HTTP scan request (JSON) into a scan-requested payload, or say which field is wrong.

Why not only Avro encoding: an encoder error names a record, not the field a caller got wrong.
The checks here walk the contract's own payload fields (read from the manifest's schema, never
a copy), so a field added to the contract is accepted here without an edit; the full encode
with constraints still runs afterwards, before anything is published.
"""
from __future__ import annotations

import uuid
from streams.core import names
from dataclasses import dataclass

SCAN_CONTRACT = names.SCAN_REQUESTED


@dataclass
class InvalidScan(ValueError):
    """A request the API refuses: HTTP `status` (400 malformed, 422 invalid), the field at fault."""

    status: int
    field: str | None
    message: str

    def to_dict(self) -> dict:
        return {"error": "invalid_scan", "field": self.field, "message": self.message}


def _accepts(avro_type, value) -> bool:
    """Whether `value` (from JSON) can be the Avro type; records are left to the encoder."""
    if isinstance(avro_type, list):
        return any(_accepts(t, value) for t in avro_type)
    if isinstance(avro_type, dict):
        if avro_type.get("type") == "enum":
            return value in avro_type["symbols"]
        if avro_type.get("type") in ("record", "map"):
            return isinstance(value, dict)
        if avro_type.get("type") == "array":
            return isinstance(value, list)
        return _accepts(avro_type.get("type"), value)
    simple = {"null": value is None, "string": isinstance(value, str),
              "boolean": isinstance(value, bool),
              "int": isinstance(value, int) and not isinstance(value, bool),
              "long": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool),
              "double": isinstance(value, (int, float)) and not isinstance(value, bool)}
    if avro_type in simple:
        return simple[avro_type]
    return isinstance(value, dict)  # a named type (ObjectRef...): a JSON object


def _describe(avro_type) -> str:
    if isinstance(avro_type, list):
        return " or ".join(_describe(t) for t in avro_type)
    if isinstance(avro_type, dict):
        if avro_type.get("type") == "enum":
            return "one of " + ", ".join(avro_type["symbols"])
        return avro_type.get("name") or str(avro_type.get("type"))
    return str(avro_type).rsplit(".", 1)[-1]


def scan_payload(body, contract, runnable, storage=None) -> dict:
    """The scan payload for a JSON body; raises InvalidScan naming the field at fault.

    `runnable(name)` raises for a workflow that cannot run (unknown or planned); `storage(name)`
    (Settings.storage) raises LookupError for a storage connection the workers do not have, which
    was accepted with 202 and dead-lettered 25 ms later."""
    if not isinstance(body, dict):
        raise InvalidScan(400, None, "the body must be a JSON object")
    fields = {f["name"]: f for f in contract.payload_fields}
    for name in body:
        if name not in fields:
            raise InvalidScan(422, name, f"unknown field {name!r}; the scan contract has {sorted(fields)}")
    out = {}
    for name, f in fields.items():
        if name in body:
            value = body[name]
        elif name == "scan_id":
            value = str(uuid.uuid4())
        elif name == "storage":
            value = "default"
        elif "default" in f:
            value = f["default"]
        else:
            raise InvalidScan(422, name, f"{name} is required")
        if not _accepts(f["type"], value):
            raise InvalidScan(422, name, f"{name} must be {_describe(f['type'])}, got {value!r}"[:300])
        out[name] = value
    if not out["scan_id"].strip():
        raise InvalidScan(422, "scan_id", "scan_id must not be empty")
    if not out["bucket"].strip():
        raise InvalidScan(422, "bucket", "bucket must not be empty")
    try:
        runnable(out["workflow"])
    except ValueError as exc:
        raise InvalidScan(422, "workflow", str(exc)) from None
    if storage is not None:
        try:
            storage(out["storage"])
        except LookupError as exc:
            raise InvalidScan(422, "storage", str(exc)) from None
    return out
