"""An AsyncAPI 3.0 document for the whole pipeline, derived from the manifest and the workflows.

* channels   = topics (address = topic name, Kafka binding with partitions);
* messages   = the contracts' Avro schemas (`schemaFormat:
  application/vnd.apache.avro+json;version=1.9.0`), framed in the Confluent wire format
  (Kafka message binding: schema id in the payload, TopicNameStrategy subject);
* operations = which service sends and which receives each topic.

Who sends and receives is derived, not hand-written: a stage's worker receives
`<stage>.requested` and sends `<stage>.completed` / `<stage>.failed`; the orchestrator sends the
requests of every stage a workflow in `schemas/workflows.yaml` names and receives their
outcomes; every worker sends to the dead-letter topic. Contracts whose producers or consumers
are outside that pattern say so in the manifest with `sent_by` / `received_by` (service names).
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from registry.manifest import Contract, Manifest
from registry.validation import workflow_stages

AVRO_FORMAT = "application/vnd.apache.avro+json;version=1.9.0"
ORCHESTRATOR = "orchestrator"
DEAD_LETTER = "pipeline.dead-lettered"
KAFKA_BINDING = "0.5.0"


def _raw_entries(root: Path) -> dict[str, dict]:
    doc = yaml.safe_load((root / "contracts.yaml").read_text())
    return {e["name"]: e for e in doc.get("contracts", [])}


def _workflow_stages(root: Path) -> list[str]:
    path = root / "workflows.yaml"
    if not path.exists():
        return []
    flows = (yaml.safe_load(path.read_text()) or {}).get("workflows", {}) or {}
    out: list[str] = []
    for spec in flows.values():
        out += workflow_stages(spec)
    return list(dict.fromkeys(out))


def roles(manifest: Manifest) -> dict[str, tuple[list[str], list[str]]]:
    """{contract name: (services that send it, services that receive it)}."""
    raw = _raw_entries(manifest.root)
    orchestrated = set(_workflow_stages(manifest.root))
    out: dict[str, tuple[list[str], list[str]]] = {}
    for c in manifest.contracts:
        entry = raw.get(c.name, {})
        senders: list[str] = []
        receivers: list[str] = []
        if c.event == "requested":
            receivers.append(c.stage)
            if c.stage in orchestrated:
                senders.append(ORCHESTRATOR)
        elif c.event in ("completed", "failed") and any(o.name == f"{c.stage}.requested" for o in manifest.contracts):
            senders.append(c.stage)
            if c.stage in orchestrated:
                receivers.append(ORCHESTRATOR)
        if "sent_by" in entry:
            senders = list(entry["sent_by"])
        if "received_by" in entry:
            receivers = list(entry["received_by"])
        out[c.name] = (senders, receivers)
    if DEAD_LETTER in out:  # every worker dead-letters what it cannot process
        workers = sorted({s for n, (snd, rcv) in out.items() if n != DEAD_LETTER for s in rcv})
        snd, rcv = out[DEAD_LETTER]
        out[DEAD_LETTER] = (sorted(set(snd) | set(workers)), rcv)
    return out


def _message(c: Contract) -> dict[str, Any]:
    msg: dict[str, Any] = {
        "name": c.record_name.rsplit(".", 1)[-1],
        "title": c.name,
        "summary": c.description,
        "contentType": "application/octet-stream",
        "payload": {"schemaFormat": AVRO_FORMAT, "schema": c.schema},
        "bindings": {"kafka": {
            "key": {"type": "string", "description": "run id (or scan id): all events of one run share a partition"},
            "schemaIdLocation": "payload",
            "schemaIdPayloadEncoding": "confluent",
            "schemaLookupStrategy": "TopicIdStrategy",
            "bindingVersion": KAFKA_BINDING,
        }},
        "tags": [{"name": c.status}, {"name": c.stage}],
        "x-meshstream-subject": c.subject,
        "x-meshstream-compatibility": c.compatibility,
        "x-meshstream-owner": c.owner,
        "x-meshstream-status": c.status,
    }
    return msg


def _id(name: str) -> str:
    return name.replace(".", "_")


def build(manifest: Manifest, version: str = "0.1.0") -> dict[str, Any]:
    who = roles(manifest)
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for c in manifest.contracts:
        cid = _id(c.name)
        messages[cid] = _message(c)
        channels[cid] = {
            "address": c.topic,
            "title": c.topic,
            "description": f"{c.description} Subject `{c.subject}` ({c.compatibility}); owner {c.owner}; status {c.status}.",
            "messages": {cid: {"$ref": f"#/components/messages/{cid}"}},
            "bindings": {"kafka": {"topic": c.topic, "partitions": c.partitions, "bindingVersion": KAFKA_BINDING}},
            "tags": [{"name": c.status}],
        }
        senders, receivers = who[c.name]
        for action, services in (("send", senders), ("receive", receivers)):
            for svc in services:
                operations[f"{svc}__{action}__{cid}"] = {
                    "action": action,
                    "channel": {"$ref": f"#/channels/{cid}"},
                    "messages": [{"$ref": f"#/channels/{cid}/messages/{cid}"}],
                    "title": f"{svc} {action}s {c.name}",
                    "summary": f"{svc} {'publishes to' if action == 'send' else 'consumes'} {c.topic}"
                               + (" (planned: no worker runs it yet)" if not c.active else ""),
                    "tags": [{"name": svc}, {"name": c.status}],
                    "x-meshstream-service": svc,
                }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "meshstream pipeline",
            "version": version,
            "description": ("Every event of the meshstream 3D-model processing pipeline. Generated by "
                            "`meshstream contracts asyncapi` from schemas/contracts.yaml and schemas/workflows.yaml; "
                            "do not edit. Values are Avro in the Confluent wire format (magic byte, 4-byte schema id)."),
        },
        "defaultContentType": "application/octet-stream",
        "servers": {
            "local": {"host": "127.0.0.1:9092", "protocol": "kafka", "protocolVersion": "3.9.2",
                      "description": "The local stack (`meshstream stack up`); schema registry at "
                                     "http://127.0.0.1:8081/apis/ccompat/v7.",
                      "bindings": {"kafka": {"schemaRegistryUrl": "http://127.0.0.1:8081/apis/ccompat/v7",
                                             "schemaRegistryVendor": "apicurio", "bindingVersion": KAFKA_BINDING}}},
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def render(doc: dict[str, Any], fmt: str = "yaml") -> str:
    if fmt == "json":
        return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"
    return "# GENERATED by `meshstream contracts asyncapi`. Do not edit.\n" + yaml.safe_dump(
        doc, sort_keys=False, allow_unicode=True, width=120)
