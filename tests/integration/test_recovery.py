"""A worker stopped mid-scan and started again recovers its workflow table from the changelog and
finishes every run, with exactly one terminal event per run."""
from __future__ import annotations

import signal
import time
import uuid

import pytest
import trimesh

from registry.serde import AvroSerde, registry_client
from streams.client import Publisher
from tests.integration.helpers import terminal_events, upload

pytestmark = pytest.mark.integration

MODELS = 30


def _models() -> dict[str, bytes]:
    """Distinct, moderately heavy meshes so the scan is still running when the worker stops."""
    out = {}
    for i in range(MODELS):
        mesh = trimesh.creation.icosphere(subdivisions=4, radius=5.0 + i)
        out[f"sphere_{i:02d}/sphere.stl"] = mesh.export(file_type="stl")
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["graceful", "killed"])
def test_worker_restart_mid_scan_finishes_every_run_once(settings, s3, worker, sig):
    serde = AvroSerde(registry_client(settings))
    bucket, prefix = "models", f"recovery-{uuid.uuid4().hex[:8]}/"
    upload(s3, bucket, {prefix + k: v for k, v in _models().items()})
    scan_id = Publisher(settings).scan(bucket, prefix)

    # let part of the scan finish, then stop the worker
    deadline = time.monotonic() + 120
    done_before = 0
    while time.monotonic() < deadline:
        completed, failed = terminal_events(settings, serde, scan_id, expected=0, timeout=1.5, settle=0)
        done_before = len(completed) + len(failed)
        if done_before >= 2:
            break
    worker.stop(sig)
    assert 0 < done_before < MODELS, f"the stop must land mid-scan (done: {done_before})"

    worker.start()
    completed, failed = terminal_events(settings, serde, scan_id, expected=MODELS, timeout=240, settle=8)
    run_ids = [r["payload"]["run_id"] for r in completed + failed]
    assert not failed
    assert len(set(run_ids)) == MODELS, "every run finished after the restart"
    if sig == signal.SIGTERM:
        assert len(run_ids) == MODELS, "a graceful stop never duplicates a terminal event"
    else:
        # a hard kill may repeat the last uncommitted emission, under the same event id
        event_ids = {r["envelope"]["event_id"] for r in completed}
        assert len(event_ids) == MODELS
