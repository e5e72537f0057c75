"""A worker stopped mid-scan and started again recovers its workflow table from the changelog and
finishes every run, with exactly one terminal event per run."""
from __future__ import annotations

import signal
import uuid

import pytest
import trimesh

from registry.serde import AvroSerde, registry_client
from streams.client import Publisher
from tests.integration.helpers import Watcher, by_scan, upload

pytestmark = pytest.mark.integration

MODELS = 12


def _models() -> dict[str, bytes]:
    """Distinct, heavy enough meshes (82k faces: ~0.5 s of work each) so the scan is still running
    when the worker stops (at 1,280 faces the whole scan took about a second once thumbnails got
    fast, and the stop could land after the last run)."""
    out = {}
    for i in range(MODELS):
        mesh = trimesh.creation.icosphere(subdivisions=6, radius=5.0 + i)
        out[f"sphere_{i:02d}/sphere.stl"] = mesh.export(file_type="stl")
    return out


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["graceful", "killed"])
def test_worker_restart_mid_scan_finishes_every_run_once(settings, s3, worker, sig):
    serde = AvroSerde(registry_client(settings))
    bucket, prefix = "models", f"recovery-{uuid.uuid4().hex[:8]}/"
    upload(s3, bucket, {prefix + k: v for k, v in _models().items()})
    scan_id = Publisher(settings).scan(bucket, prefix)

    watch = Watcher(settings, serde, ("processing.completed", "processing.failed"), by_scan(scan_id))
    try:
        done_before = watch.wait_for(2, timeout=120)
        worker.stop(sig)
        done_before = watch.poll(1.0)
        assert 0 < done_before < MODELS, f"the stop must land mid-scan (done: {done_before})"

        worker.start()
        watch.wait_for(MODELS, timeout=240, settle=8)
    finally:
        watch.close()
    completed = [r for n, r in watch.records if n == "processing.completed"]
    failed = [r for n, r in watch.records if n == "processing.failed"]
    run_ids = [r["payload"]["run_id"] for r in completed + failed]
    assert not failed
    assert len(set(run_ids)) == MODELS, "every run finished after the restart"
    if sig == signal.SIGTERM:
        assert len(run_ids) == MODELS, "a graceful stop never duplicates a terminal event"
    else:
        # a hard kill may repeat the last uncommitted emission, under the same event id
        event_ids = {r["envelope"]["event_id"] for r in completed}
        assert len(event_ids) == MODELS
