"""Load `schemas/contracts.yaml` and expose each contract with its fully expanded Avro schema.

Everything that needs a topic name, a subject or a schema asks this module; nothing else reads the
YAML or the `.avsc` files. That is how producers and consumers are kept provably in agreement.
"""
from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from pathlib import Path
from typing import Any

import fastavro
import yaml

from schemas import SCHEMAS_DIR

TOPIC_PATTERN = re.compile(r"^model\.(?P<stage>[a-z][a-z0-9-]*)\.(?P<event>[a-z][a-z-]*)\.v(?P<major>[1-9][0-9]*)$")
COMPATIBILITY_LEVELS = (
    "BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE",
    "FULL", "FULL_TRANSITIVE", "NONE",
)
STATUSES = ("active", "planned")


class ManifestError(ValueError):
    """The manifest or one of its schemas breaks a rule; the message names what and where."""


@dataclass(frozen=True)
class Contract:
    """One event type: its topic, subject, schema and governance attributes."""

    name: str
    topic: str
    schema_file: str
    schema: dict[str, Any] = field(repr=False, compare=False)
    compatibility: str
    owner: str
    status: str
    description: str
    partitions: int

    @property
    def subject(self) -> str:
        """Confluent TopicNameStrategy: the value subject is derived from the topic, never typed."""
        return f"{self.topic}-value"

    @property
    def stage(self) -> str:
        return TOPIC_PATTERN.match(self.topic).group("stage")

    @property
    def event(self) -> str:
        return TOPIC_PATTERN.match(self.topic).group("event")

    @property
    def major(self) -> int:
        return int(TOPIC_PATTERN.match(self.topic).group("major"))

    @property
    def record_name(self) -> str:
        return f"{self.schema['namespace']}.{self.schema['name']}"

    @property
    def payload_schema(self) -> dict[str, Any]:
        """The record schema of the event's `payload` field (every contract has the envelope +
        payload shape)."""
        return next(f for f in self.schema["fields"] if f["name"] == "payload")["type"]

    @property
    def payload_fields(self) -> list[dict[str, Any]]:
        """The payload's field schemas, in order."""
        return self.payload_schema["fields"]

    @property
    def payload_field_names(self) -> list[str]:
        return [f["name"] for f in self.payload_fields]

    def payload_defaults(self) -> dict[str, Any]:
        """Every payload field that has a schema default, with it (what a reader fills in)."""
        return {f["name"]: f["default"] for f in self.payload_fields if "default" in f}

    def payload_default(self, field_name: str) -> Any:
        """The schema's default of one payload field (KeyError when it has none)."""
        return next(f for f in self.payload_fields if f["name"] == field_name)["default"]

    @cached_property
    def schema_str(self) -> str:
        """Canonical JSON text, as registered with the schema registry."""
        return json.dumps(self.schema, sort_keys=False, separators=(",", ":"))

    @cached_property
    def parsed_schema(self):
        return _parse(self.schema_str)

    @property
    def active(self) -> bool:
        return self.status == "active"


@lru_cache(maxsize=None)
def _parse(schema_str: str):
    return fastavro.parse_schema(json.loads(schema_str))


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ManifestError(f"schema file missing: {path}") from exc
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON: {exc}") from exc


def _full_name(schema: dict[str, Any], enclosing_ns: str | None) -> str:
    name = schema["name"]
    if "." in name:
        return name
    ns = schema.get("namespace", enclosing_ns)
    return f"{ns}.{name}" if ns else name


def collect_named_types(schema: Any, enclosing_ns: str | None = None, out: dict | None = None) -> dict[str, dict]:
    """Map every named type (record/enum/fixed) defined inside `schema` to its definition."""
    out = {} if out is None else out
    if isinstance(schema, list):
        for branch in schema:
            collect_named_types(branch, enclosing_ns, out)
    elif isinstance(schema, dict):
        kind = schema.get("type")
        if kind in ("record", "error", "enum", "fixed"):
            full = _full_name(schema, enclosing_ns)
            out[full] = schema
            ns = full.rsplit(".", 1)[0] if "." in full else None
            for f in schema.get("fields", []):
                collect_named_types(f["type"], ns, out)
        elif kind == "array":
            collect_named_types(schema["items"], enclosing_ns, out)
        elif kind == "map":
            collect_named_types(schema["values"], enclosing_ns, out)
        elif isinstance(kind, (dict, list)):
            collect_named_types(kind, enclosing_ns, out)
    return out


def inline_named_types(schema: dict[str, Any], library: dict[str, dict]) -> dict[str, Any]:
    """Return a self-contained copy of `schema`: the first use of each shared type is replaced by
    its definition (Avro forbids defining a name twice), later uses stay references.

    Registries and standard clients then need no schema references to read our events.
    """
    defined: set[str] = set(collect_named_types(schema))

    def walk(node: Any, ns: str | None) -> Any:
        if isinstance(node, str):
            if node in library and node not in defined:
                definition = copy.deepcopy(library[node])
                defined.update(collect_named_types(definition))
                return walk(definition, ns)
            return node
        if isinstance(node, list):
            return [walk(b, ns) for b in node]
        if isinstance(node, dict):
            node = dict(node)
            kind = node.get("type")
            if kind in ("record", "error"):
                full = _full_name(node, ns)
                inner_ns = full.rsplit(".", 1)[0] if "." in full else None
                node["fields"] = [{**f, "type": walk(f["type"], inner_ns)} for f in node["fields"]]
            elif kind == "array":
                node["items"] = walk(node["items"], ns)
            elif kind == "map":
                node["values"] = walk(node["values"], ns)
            elif isinstance(kind, (str, dict, list)) and kind not in ("enum", "fixed"):
                node["type"] = walk(kind, ns)
            return node
        return node

    return walk(copy.deepcopy(schema), None)


@dataclass(frozen=True)
class Manifest:
    """The parsed manifest: contracts by name and by topic, plus defaults."""

    contracts: tuple[Contract, ...]
    root: Path

    def by_name(self, name: str) -> Contract:
        for c in self.contracts:
            if c.name == name:
                return c
        raise KeyError(f"no contract named {name!r} in the manifest")

    def by_topic(self, topic: str) -> Contract:
        for c in self.contracts:
            if c.topic == topic:
                return c
        raise KeyError(f"no contract for topic {topic!r} in the manifest")

    def by_record_name(self, record_name: str) -> Contract:
        for c in self.contracts:
            if c.record_name == record_name:
                return c
        raise KeyError(f"no contract with record {record_name!r}")

    def stage(self, stage: str, event: str) -> Contract:
        """The contract for `<stage>.<event>`, e.g. stage('technical-metadata', 'completed')."""
        return self.by_name(f"{stage}.{event}")

    @property
    def active(self) -> tuple[Contract, ...]:
        return tuple(c for c in self.contracts if c.active)


def load_manifest(root: Path | str = SCHEMAS_DIR) -> Manifest:
    """Read and validate the manifest under `root` (default: the shipped `schemas/`)."""
    root = Path(root)
    doc = yaml.safe_load((root / "contracts.yaml").read_text())
    defaults = doc.get("defaults", {})
    library: dict[str, dict] = {}
    for rel in doc.get("common", []):
        library.update(collect_named_types(_read_json(root / rel)))

    contracts: list[Contract] = []
    seen_topics: set[str] = set()
    for entry in doc.get("contracts", []):
        name = entry.get("name", "<unnamed>")
        for key in ("name", "topic", "schema", "owner", "description"):
            if not entry.get(key):
                raise ManifestError(f"contract {name}: missing {key!r}")
        topic = entry["topic"]
        if not TOPIC_PATTERN.match(topic):
            raise ManifestError(f"contract {name}: topic {topic!r} does not follow model.<stage>.<event>.v<major>")
        if topic in seen_topics:
            raise ManifestError(f"contract {name}: topic {topic!r} declared twice")
        seen_topics.add(topic)
        compat = entry.get("compatibility", defaults.get("compatibility", "BACKWARD_TRANSITIVE"))
        if compat not in COMPATIBILITY_LEVELS:
            raise ManifestError(f"contract {name}: unknown compatibility {compat!r}")
        status = entry.get("status", defaults.get("status", "active"))
        if status not in STATUSES:
            raise ManifestError(f"contract {name}: status must be one of {STATUSES}, not {status!r}")
        raw = _read_json(root / entry["schema"])
        expanded = inline_named_types(raw, library)
        try:
            fastavro.parse_schema(copy.deepcopy(expanded))
        except Exception as exc:  # fastavro raises several types; all mean "invalid schema"
            raise ManifestError(f"contract {name}: schema {entry['schema']} is not valid Avro: {exc}") from exc
        contracts.append(Contract(
            name=name, topic=topic, schema_file=entry["schema"], schema=expanded,
            compatibility=compat, owner=entry["owner"], status=status,
            description=entry["description"],
            partitions=int(entry.get("partitions", defaults.get("partitions", 4))),
        ))
    return Manifest(contracts=tuple(contracts), root=root)


@lru_cache(maxsize=1)
def default_manifest() -> Manifest:
    """The shipped manifest, loaded once per process."""
    return load_manifest(SCHEMAS_DIR)
