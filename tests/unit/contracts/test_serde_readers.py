"""Decoding resolves a record against the contract's schema only when its writer schema differs
(registry/serde.py `_reader_schema`): the same record either way, half the work when equal."""
from __future__ import annotations

import copy
import io
import json
from types import SimpleNamespace

import fastavro

from registry.manifest import default_manifest
from registry.serde import HEADER, MAGIC, AvroSerde
from streams.core.envelope import envelope

CONTRACT = default_manifest().by_name("discovery.discovered")
RECORD = {"envelope": envelope("test", "corr"),
          "payload": {"run_id": "r" * 36, "model_id": "m" * 40, "scan_id": "s" * 36, "name": "dragon",
                      "folder": "lib/dragon", "workflow": "standard", "owner_id": "o", "collection_id": None,
                      "options": None, "files": [{"storage": "default", "bucket": "models", "key": "lib/dragon/d.stl",
                                                   "etag": "0" * 32, "size_bytes": 684}]}}


class _Registry:
    """Answers get_schema from a dict of schema id -> schema text, as the registry would."""

    def __init__(self, schemas: dict[int, str]):
        self.schemas = schemas

    def get_schema(self, sid: int):
        return SimpleNamespace(schema_str=self.schemas[sid], schema_type="AVRO")


def _wire(sid: int, schema: dict, record: dict) -> bytes:
    buf = io.BytesIO()
    buf.write(HEADER.pack(MAGIC, sid))
    fastavro.schemaless_writer(buf, fastavro.parse_schema(schema), record)
    return buf.getvalue()


def _resolved(wire: bytes, writer: dict) -> dict:
    """What decoding with full resolution against the contract gives (the behaviour before)."""
    return fastavro.schemaless_reader(io.BytesIO(wire[HEADER.size:]), fastavro.parse_schema(writer), CONTRACT.parsed_schema)


def test_a_writer_equal_to_the_contract_is_read_without_resolution_and_gives_the_same_record():
    serde = AvroSerde(_Registry({7: CONTRACT.schema_str}))
    wire = _wire(7, json.loads(CONTRACT.schema_str), RECORD)
    decoded = serde.decode(wire, CONTRACT)
    assert decoded == _resolved(wire, json.loads(CONTRACT.schema_str))
    assert decoded["payload"] == RECORD["payload"]
    assert serde._readers[(7, CONTRACT.subject)] is None  # noqa: SLF001 - the fast path was taken


def test_a_different_writer_is_still_resolved_against_the_contract():
    older = json.loads(CONTRACT.schema_str)
    payload = next(f for f in older["fields"] if f["name"] == "payload")["type"]
    payload["fields"].append({"name": "legacy_hint", "type": "string"})  # a field the contract does not have
    record = copy.deepcopy(RECORD)
    record["payload"]["legacy_hint"] = "dropped by resolution"
    serde = AvroSerde(_Registry({8: json.dumps(older)}))
    wire = _wire(8, older, record)
    decoded = serde.decode(wire, CONTRACT)
    assert decoded == _resolved(wire, older)
    assert decoded["payload"] == RECORD["payload"]  # the writer's extra field is not in the contract's view
    assert serde._readers[(8, CONTRACT.subject)] is CONTRACT.parsed_schema  # noqa: SLF001
