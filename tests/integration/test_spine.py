"""The spine, end to end on the real stack: scan -> discovery -> technical metadata ->
orchestrator -> exactly one terminal event per model."""
from __future__ import annotations

import uuid

import pytest
from confluent_kafka import DeserializingConsumer
from confluent_kafka.schema_registry import SchemaRegistryClient
from confluent_kafka.schema_registry.avro import AvroDeserializer

from processors.samples import sample_models
from registry.manifest import default_manifest
from registry.serde import AvroSerde, registry_client
from streams.client import Publisher
from tests.integration.helpers import terminal_events, upload

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def serde(settings):
    return AvroSerde(registry_client(settings))


def test_scan_of_samples_yields_one_terminal_event_per_model(settings, s3, worker, serde):
    bucket, prefix = "models", f"spine-{uuid.uuid4().hex[:8]}/"
    samples = sample_models()
    upload(s3, bucket, {prefix + k: v for k, v in samples.items()})
    scan_id = Publisher(settings).scan(bucket, prefix)

    completed, failed = terminal_events(settings, serde, scan_id, expected=_expected_models(samples))
    names = {r["payload"]["name"]: r["payload"] for r in completed}
    cube = next(p for n, p in names.items() if "cube" in n)
    md = cube["metadata"]
    assert md["triangles"] == 12 and md["watertight"] is True
    assert md["volume"] == pytest.approx(1000.0, rel=1e-6)
    assert cube["results"] and cube["results"][0]["bucket"] == settings.results_bucket
    # the default workflow ran every stage of a good model to completion
    from streams.orchestration.workflow import default_workflow_name, runnable

    default_flow = runnable(default_workflow_name())
    assert {st["stage"]: st["status"] for st in cube["stages"]} == {s.stage: "completed" for s in default_flow.steps}
    assert len(failed) == 1, [r["payload"]["name"] for r in failed]
    err = failed[0]["payload"]
    assert "corrupt" in err["name"] and err["failed_stage"] == "technical-metadata"
    assert err["error"]["code"] in ("corrupt_mesh", "unsupported_format") and err["error"]["message"]
    assert len(completed) + len(failed) == _expected_models(samples)
    # one terminal event per run, no duplicates
    run_ids = [r["payload"]["run_id"] for r in completed + failed]
    assert len(run_ids) == len(set(run_ids))
    assert worker.proc.poll() is None, "the worker must survive a corrupt model"


def _expected_models(samples) -> int:
    from processors.discovery import group_models
    from processors.discovery import StoredObject

    return len(group_models([StoredObject(k, "etag", len(v)) for k, v in samples.items()]))


def test_standard_confluent_consumer_reads_the_completion_topic(settings, s3, worker, serde):
    bucket, prefix = "models", f"interop-{uuid.uuid4().hex[:8]}/"
    samples = sample_models()
    upload(s3, bucket, {prefix + "cube_10mm.stl": samples["cube_10mm.stl"]})
    scan_id = Publisher(settings).scan(bucket, prefix)
    terminal_events(settings, serde, scan_id, expected=1, settle=0)

    topic = default_manifest().by_name("processing.completed").topic
    consumer = DeserializingConsumer({
        "bootstrap.servers": settings.kafka_bootstrap, "group.id": f"interop-{uuid.uuid4()}",
        "auto.offset.reset": "earliest",
        "value.deserializer": AvroDeserializer(SchemaRegistryClient({"url": settings.registry_url})),
    })
    consumer.subscribe([topic])
    try:
        import time
        deadline, value = time.monotonic() + 60, None
        while time.monotonic() < deadline and value is None:
            msg = consumer.poll(1.0)
            if msg is not None and not msg.error() and msg.value()["payload"]["scan_id"] == scan_id:
                value = msg.value()
    finally:
        consumer.close()
    assert value is not None
    assert value["payload"]["metadata"]["volume"] == pytest.approx(1000.0, rel=1e-6)
    assert value["envelope"]["producer"]["service"] == "orchestrator"


def test_large_folder_scan_travels_by_manifest_reference(settings, s3, worker, serde):
    """A scan can carry a manifest object's reference instead of letting discovery list the
    folder: discovery then processes exactly the manifest's models (two of the three here)."""
    from processors.discovery import group_models
    from processors.storage import list_objects
    from streams.client import write_objects_manifest

    bucket, prefix = "models", f"manifest-{uuid.uuid4().hex[:8]}/"
    samples = sample_models()
    upload(s3, bucket, {prefix + k: samples[k] for k in ("cube_10mm.stl", "sphere_r5.stl", "torus.obj")})
    models = [m for m in group_models(list_objects(s3, bucket, prefix)) if "torus" not in m.name]
    ref = write_objects_manifest(settings, bucket, prefix, models=models)
    scan_id = Publisher(settings).scan(bucket, prefix, objects_manifest=ref)
    completed, failed = terminal_events(settings, serde, scan_id, expected=2)
    assert sorted(r["payload"]["name"] for r in completed) == ["cube_10mm", "sphere_r5"] and not failed
