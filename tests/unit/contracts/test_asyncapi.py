"""The AsyncAPI document is valid against the official AsyncAPI 3.0.0 JSON Schema and complete."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import pytest
import yaml

from registry import asyncapi
from registry.manifest import default_manifest
from streams.orchestration.workflow import default_workflows

SCHEMA = json.loads((Path(__file__).parent / "asyncapi" / "asyncapi-3.0.0.schema.json").read_text())


@pytest.fixture(scope="module")
def doc():
    return asyncapi.build(default_manifest())


def test_valid_against_official_schema(doc):
    errors = list(jsonschema.Draft7Validator(SCHEMA).iter_errors(doc))
    assert errors == [], [e.message for e in errors[:3]]


def test_validator_is_not_vacuous(doc):
    broken = copy.deepcopy(doc)
    next(iter(broken["operations"].values()))["action"] = "publish"  # AsyncAPI 2 wording
    assert list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))
    broken = copy.deepcopy(doc)
    next(iter(broken["channels"].values()))["topic"] = "x"  # unknown property
    assert list(jsonschema.Draft7Validator(SCHEMA).iter_errors(broken))


def test_rendered_yaml_is_the_same_document(doc):
    assert yaml.safe_load(asyncapi.render(doc)) == json.loads(json.dumps(doc))


def test_channels_messages_operations(doc):
    m = default_manifest()
    assert {ch["address"] for ch in doc["channels"].values()} == {c.topic for c in m.contracts}
    for msg in doc["components"]["messages"].values():
        assert msg["payload"]["schemaFormat"] == "application/vnd.apache.avro+json;version=1.9.0"
    ops = {(o["x-meshstream-service"], o["action"], o["channel"]["$ref"].rsplit("/", 1)[1]) for o in doc["operations"].values()}
    for c in m.active:  # every active topic has a sender and a receiver
        cid = c.name.replace(".", "_")
        assert any(a == "send" and ch == cid for _, a, ch in ops), c.name
        assert any(a == "receive" and ch == cid for _, a, ch in ops), c.name
    for flow in default_workflows().values():  # the orchestrator requests what the workflows run
        for step in flow.steps:
            assert ("orchestrator", "send", f"{step.stage}_requested".replace(".", "_")) in ops
            assert (step.stage, "receive", f"{step.stage}_requested") in ops
            assert ("orchestrator", "receive", f"{step.stage}_completed") in ops


def test_refs_resolve(doc):
    def resolve(ref):
        node = doc
        for part in ref.lstrip("#/").split("/"):
            node = node[part]
        return node

    for op in doc["operations"].values():
        resolve(op["channel"]["$ref"])
        for m in op["messages"]:
            resolve(m["$ref"])
    for ch in doc["channels"].values():
        for m in ch["messages"].values():
            resolve(m["$ref"])
