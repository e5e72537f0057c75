"""Long-lived state: a finished run leaves the changelog-backed run table after the retention
(a tombstone on the changelog), while its terminal event stays on the completion topic."""
from __future__ import annotations

import time
import uuid

import pytest
import requests

from meshstream.worker_process import WorkerProcess, free_port
from processors.samples import sample_models
from registry.serde import AvroSerde, registry_client
from streams.client import Publisher
from tests.integration.helpers import terminal_events, upload

pytestmark = pytest.mark.integration


def test_a_finished_run_leaves_the_table_and_its_terminal_event_stays(settings, s3, worker, tmp_path):
    port = free_port()
    worker.stop()  # the same consumer group, restarted with a 3 s retention and its API on `port`
    short = WorkerProcess({**worker.env, "MESHSTREAM_RUN_RETENTION_SECONDS": "3", "MESHSTREAM_TIMEOUT_CHECK_SECONDS": "1",
                           "MESHSTREAM_WEB_PORT": str(port)}, tmp_path / "retention.log")
    try:
        short.start()
        prefix = f"retention-{uuid.uuid4().hex[:8]}/"
        upload(s3, "models", {prefix + "cube.stl": sample_models()["cube_10mm.stl"]})
        scan_id = Publisher(settings).scan("models", prefix, workflow="minimal")
        serde = AvroSerde(registry_client(settings))
        (done,), _ = terminal_events(settings, serde, scan_id, expected=1, settle=0)
        run_id = done["payload"]["run_id"]
        url = f"http://127.0.0.1:{port}/runs/{run_id}"
        seen = requests.get(url, timeout=10)
        assert seen.status_code in (200, 404)  # it may already be gone if the sweep was quick
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and requests.get(url, timeout=10).status_code != 404:
            time.sleep(1)
        assert requests.get(url, timeout=10).status_code == 404, "the finished run left the table"
        assert "finished run(s) past retention removed" in short.log()
        # history stays on the completion topic
        (again,), _ = terminal_events(settings, serde, scan_id, expected=1, settle=0)
        assert again["payload"]["run_id"] == run_id
    finally:
        short.stop()
        worker.start()
