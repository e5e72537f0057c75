"""Bad input never kills an agent: it becomes a dead letter (or a failed event) with the reason,
and the pipeline keeps processing what comes after it."""
from __future__ import annotations

import struct
import uuid

import pytest
from confluent_kafka import Producer

from processors.samples import sample_models
from registry.manifest import default_manifest
from registry.serde import AvroSerde, registry_client
from streams.client import Publisher, producer_config
from tests.integration.helpers import read_topics, terminal_events, upload

pytestmark = pytest.mark.integration


def _dead_letters_for(settings, serde, key: bytes, expected: int, timeout=90.0):
    return [r for _, r in read_topics(settings, ("pipeline.dead-lettered",), serde,
                                      lambda r: r["payload"]["original_key"] == key, expected,
                                      timeout=timeout, settle=1)]


def test_undecodable_records_become_dead_letters_and_the_agent_keeps_going(settings, s3, worker):
    serde = AvroSerde(registry_client(settings))
    topic = default_manifest().by_name("discovery-scan.requested").topic
    producer = Producer(producer_config(settings))
    garbage_key, unknown_key = f"garbage-{uuid.uuid4()}".encode(), f"unknown-{uuid.uuid4()}".encode()
    producer.produce(topic, key=garbage_key, value=b"not avro at all")
    producer.produce(topic, key=unknown_key, value=struct.pack(">bI", 0, 987654) + b"\x02\x04")
    producer.flush(10)

    garbage = _dead_letters_for(settings, serde, garbage_key, 1)
    unknown = _dead_letters_for(settings, serde, unknown_key, 1)
    assert len(garbage) == 1 and len(unknown) == 1
    g, u = garbage[0]["payload"], unknown[0]["payload"]
    assert g["error"]["code"] == "malformed_event" and "magic byte" in g["error"]["message"]
    assert g["original_value"] == b"not avro at all" and g["original_topic"] == topic and g["stage"] == "discovery"
    assert u["error"]["code"] == "unknown_schema_id" and "987654" in u["error"]["message"]

    # ... and the same agent still processes a good scan afterwards
    bucket, prefix = "models", f"after-dlq-{uuid.uuid4().hex[:8]}/"
    upload(s3, bucket, {prefix + "cube.stl": sample_models()["cube_10mm.stl"]})
    scan_id = Publisher(settings).scan(bucket, prefix)
    completed, failed = terminal_events(settings, serde, scan_id, expected=1, settle=0)
    assert len(completed) == 1 and not failed
    assert worker.alive


def test_missing_object_fails_the_run_with_the_reason(settings, s3, worker):
    """Discovery saw the object, then it vanished before download: a failed run, not a crash."""
    serde = AvroSerde(registry_client(settings))
    run_id, model_id = str(uuid.uuid4()), f"missing-{uuid.uuid4().hex[:8]}"
    scan_id = str(uuid.uuid4())
    Publisher(settings).publish("discovery.discovered", run_id, {
        "scan_id": scan_id, "run_id": run_id, "model_id": model_id, "name": "ghost.stl", "folder": "",
        "workflow": "minimal", "owner_id": None,
        "files": [{"storage": "default", "bucket": "models", "key": f"nowhere/{model_id}.stl",
                   "etag": None, "size_bytes": None}],
    }, correlation_id=run_id)
    completed, failed = terminal_events(settings, serde, scan_id, expected=1, settle=0)
    assert not completed and len(failed) == 1
    assert failed[0]["payload"]["error"]["code"] == "object_missing"
    assert "nowhere/" in failed[0]["payload"]["error"]["message"]


def test_unknown_workflow_is_refused_with_a_clear_reason(settings, worker):
    serde = AvroSerde(registry_client(settings))
    key = str(uuid.uuid4())
    Publisher(settings).publish("discovery-scan.requested", key, {
        "scan_id": key, "storage": "default", "bucket": "models", "prefix": "x/",
        "workflow": "no-such-workflow", "owner_id": None}, correlation_id=key)
    dead = _dead_letters_for(settings, serde, key.encode(), 1)
    assert dead and dead[0]["payload"]["error"]["code"] == "unknown_workflow"


def test_dead_letters_replay_after_the_fix(settings, s3, worker, stack_env):
    """A scan of a bucket that does not exist yet is dead-lettered; once the bucket exists,
    `meshstream replay dead-letters` puts the scan back and its models are processed."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    serde = AvroSerde(registry_client(settings))
    bucket = f"later-{uuid.uuid4().hex[:8]}"
    scan_id = Publisher(settings).scan(bucket, "")
    dead = _dead_letters_for(settings, serde, scan_id.encode(), 1)
    assert dead and dead[0]["payload"]["error"]["code"] == "object_missing"

    upload(s3, bucket, {"cube.stl": sample_models()["cube_10mm.stl"]})  # the fix
    out = subprocess.run([sys.executable, "-m", "meshstream.cli", "replay", "dead-letters", "--key", scan_id],
                         cwd=ROOT, env={**os.environ, **stack_env}, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "1 record(s) replayed" in out.stdout
    completed, failed = terminal_events(settings, serde, scan_id, expected=1, settle=0)
    assert len(completed) == 1 and not failed
