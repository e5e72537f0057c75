"""Register every active contract under its subject with the manifest's compatibility level.

Run at worker start-up (and, with reporting, by `meshstream contracts register`): a subject the
registry does not know yet receives its released history first (schemas/released/, oldest
first), so *_TRANSITIVE levels are enforced against every version that data may have been
written with; then the current schema. The registry then refuses any producer that tries to
publish an incompatible schema under our subjects.
"""
from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka.schema_registry import Schema, SchemaRegistryClient

from registry import live
from registry.compatibility import load_releases
from registry.manifest import Manifest


class RegistrationError(RuntimeError):
    """The registry refused a contract (e.g. an incompatible schema under an existing subject)."""


@dataclass(frozen=True)
class Registered:
    subject: str
    schema_id: int
    compatibility: str


def ensure_registered(client: SchemaRegistryClient, manifest: Manifest, prefix: str = "") -> list[Registered]:
    """Idempotent: levels set, released history and current schema registered (no-ops if present).
    `prefix` puts every subject under a prefix (a shared registry probed by tests)."""
    actions = live.register(client, manifest, load_releases(manifest.root), prefix=prefix)
    refused = [str(a) for a in actions if not a.ok]
    if refused:
        raise RegistrationError("; ".join(refused))
    # register_schema of an existing schema only returns its id: the ids the producers will use
    return [Registered(prefix + c.subject, client.register_schema(prefix + c.subject, Schema(c.schema_str, "AVRO")),
                       c.compatibility) for c in manifest.active]
