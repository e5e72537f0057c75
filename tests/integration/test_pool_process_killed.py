"""A pool process killed in the middle of a step (OOM killer, operator, native crash) fails that
step as retryable `worker_lost`; the orchestrator requests it again and the run completes. The
worker process itself stays up and keeps its partitions."""
from __future__ import annotations

import os
import re
import signal
import time
import uuid

import pytest
import trimesh

from processors.discovery import group_models
from processors.storage import list_objects
from registry.serde import AvroSerde, registry_client
from streams.core.envelope import derived_id
from streams.orchestration.workflow import default_workflow_name
from streams.client import Publisher
from tests.integration.helpers import terminal_events, upload

pytestmark = pytest.mark.integration


def test_killing_a_pool_process_mid_step_ends_in_a_completed_run(settings, s3, worker):
    bucket, prefix = "models", f"poolkill-{uuid.uuid4().hex[:8]}/"
    # big enough that its thumbnails take a while, so the kill lands mid-step
    mesh = trimesh.creation.icosphere(subdivisions=5, radius=20.0)
    upload(s3, bucket, {prefix + "ball/ball.stl": mesh.export(file_type="stl")})
    seen = len(worker.log())  # only steps started after this scan was published
    scan_id = Publisher(settings).scan(bucket, prefix)

    # this scan's run (other runs may still be in flight from earlier tests): ids are derived
    (model,) = group_models(list_objects(s3, bucket, prefix))
    run_id = derived_id(scan_id, model.model_id, default_workflow_name())
    started = re.compile(r"pool pid=(\d+) started thumbnails run=" + re.escape(run_id))
    deadline, hit = time.monotonic() + 120, None
    while hit is None and time.monotonic() < deadline:
        hit = started.search(worker.log()[seen:])
        time.sleep(0.05)
    assert hit is not None, "thumbnails never started in a pool process"
    pid = int(hit.group(1))
    assert pid != worker.proc.pid
    os.kill(pid, signal.SIGKILL)

    completed, failed = terminal_events(settings, AvroSerde(registry_client(settings)), scan_id, expected=1, timeout=180)
    assert not failed, [r["payload"]["error"] for r in failed]
    assert len(completed) == 1
    steps = {s["stage"]: s for s in completed[0]["payload"]["stages"]}
    assert steps["thumbnails"]["status"] == "completed"
    assert steps["thumbnails"]["attempts"] >= 2, "the lost step was requested again"
    assert worker.alive, "the worker survived its pool process"
    assert "worker_lost" in worker.log()
