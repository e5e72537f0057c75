"""Register every active contract's schema under its subject with the manifest's compatibility.

Run at worker start-up (and by `meshstream contracts register`): the registry then refuses any
producer that tries to publish an incompatible schema under our subjects.
"""
from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from registry.manifest import Manifest


@dataclass(frozen=True)
class Registered:
    subject: str
    schema_id: int
    compatibility: str


def ensure_registered(client: SchemaRegistryClient, manifest: Manifest) -> list[Registered]:
    """Idempotent: sets each subject's level, then registers the schema (a no-op if present)."""
    out = []
    for contract in manifest.active:
        client.set_compatibility(contract.subject, contract.compatibility)
        sid = client.register_schema(contract.subject, Schema(contract.schema_str, "AVRO"))
        out.append(Registered(contract.subject, sid, contract.compatibility))
    return out
