"""The shape of one generated contract entry (see generated/contracts.py).

Hand-written on purpose: the generator emits data, this module says what the data means, so the
serde, the constraint checker, the publisher and the subscriber compile against a stable type.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import fastavro


@dataclass(frozen=True, eq=False)
class ContractInfo:
    name: str
    topic: str
    subject: str  # TopicNameStrategy: `<topic>-value`
    status: str  # active | planned
    compatibility: str
    record_name: str
    partitions: int
    schema: str = field(repr=False)  # the Avro text the workers register under `subject`
    # declared meshstream.* constraints: ((path segments...), {key: value}) with Python patterns
    constraints: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = field(repr=False, default=())

    @cached_property
    def parsed_schema(self) -> Any:
        """The schema as fastavro uses it (parsed once per process)."""
        return fastavro.parse_schema(json.loads(self.schema))

    def field_default(self, record_field: str, payload_field: str) -> Any:
        """The declared default of `payload_field` of record field `record_field`, e.g. the
        scan's default workflow: the schema is the one place it is written."""
        for f in json.loads(self.schema)["fields"]:
            if f["name"] == record_field:
                for g in f["type"]["fields"]:
                    if g["name"] == payload_field:
                        return g.get("default")
        raise KeyError(f"{self.name}: no field {record_field}.{payload_field}")
