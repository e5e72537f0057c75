"""A backlog longer than a step's timeout does not make the pipeline redo or lose work (issue 18).

The session worker is restarted with its step (execution) timeout capped at 3 s and a scan whose
backlog takes several times that: before ADR 0012 every request still queued after 3 s was
requested again (up to 3 copies per step), and runs completed degraded with `timeout`. Now time
in the queue does not count, admission control keeps the topics short, and every stage of every
run is requested exactly once.
"""
from __future__ import annotations

import collections
import time
import uuid

import pytest
import trimesh

from registry.serde import AvroSerde, registry_client
from streams.client import Publisher
from tests.integration.helpers import read_topics, terminal_events, upload

pytestmark = pytest.mark.integration

MODELS = 150  # cheap models, but enough that the backlog outlasts the 3 s timeout several times
STAGES = ("download", "technical-metadata", "thumbnails")  # the minimal workflow


def _models() -> dict[str, bytes]:
    out = {}
    for i in range(MODELS):
        mesh = trimesh.creation.torus(major_radius=10 + i % 7, minor_radius=3, major_sections=48, minor_sections=24)
        out[f"torus_{i:02d}/torus.stl"] = mesh.export(file_type="stl")
    return out


@pytest.fixture
def impatient_worker(worker):
    """The session worker with a 3 s execution timeout and 2 requests per stage in flight."""
    saved = dict(worker.env)
    worker.stop()
    worker.env.update({"MESHSTREAM_STEP_TIMEOUT_CAP": "3", "MESHSTREAM_ADMISSION_PER_STAGE": "2"})
    worker.env.pop("MESHSTREAM_QUEUE_TIMEOUT_CAP", None)
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        worker.env.clear()
        worker.env.update(saved)
        worker.start()


def test_a_backlog_longer_than_the_step_timeout_requests_every_stage_once(settings, s3, impatient_worker):
    serde = AvroSerde(registry_client(settings))
    prefix = f"backlog-{uuid.uuid4().hex[:8]}/"
    upload(s3, "models", {prefix + k: v for k, v in _models().items()})
    started = time.monotonic()
    scan_id = Publisher(settings).scan("models", prefix, workflow="minimal")
    completed, failed = terminal_events(settings, serde, scan_id, expected=MODELS, timeout=400, settle=2)
    wall = time.monotonic() - started
    assert not failed
    assert len({r["payload"]["run_id"] for r in completed}) == MODELS
    assert wall > 3 * 3, f"the backlog ({wall:.0f} s) must outlast the 3 s step timeout several times"
    assert [r["payload"]["degraded"] for r in completed if r["payload"]["degraded"]] == []
    runs = {r["payload"]["run_id"] for r in completed}
    requests = read_topics(settings, [f"{s}.requested" for s in STAGES], serde,
                           lambda record: record["payload"].get("run_id") in runs,
                           expected=MODELS * len(STAGES), timeout=60, settle=3)
    per_stage = collections.Counter(name.split(".")[0] for name, _ in requests)
    assert per_stage == {stage: MODELS for stage in STAGES}, "requests per run per stage must be 1.00"
    attempts = collections.Counter(s["attempts"] for r in completed for s in r["payload"]["stages"])
    assert attempts == {1: MODELS * len(STAGES)}, attempts
