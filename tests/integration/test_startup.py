"""Scale-out start-up: workers started at the same instant on a fresh stack (nothing registered,
no topics) all register, create topics and become ready, then share a scan."""
from __future__ import annotations

import uuid

import pytest

from meshstream.worker_process import WorkerProcess
from processors.samples import sample_models
from registry.serde import AvroSerde, registry_client
from streams.client import Publisher
from streams.core.settings import Settings
from tests.integration.helpers import terminal_events, upload

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def fresh_stack(tmp_path_factory):
    from stack.config import StackConfig
    from stack.manager import LocalStack

    local = LocalStack(StackConfig().with_free_ports(tmp_path_factory.mktemp("fresh-stack")))
    try:
        local.up()
        yield local
    finally:
        local.down()


def test_three_workers_started_together_all_become_ready_and_share_a_scan(fresh_stack, tmp_path):
    from processors.storage import connect

    # like the session worker: a step with no answer is requested again after a minute at most
    # (three members joining at once rebalance several times; the step timeout heals whatever a
    # rebalance strands, as it does in production after 300 s)
    env = {**fresh_stack.config.client_env(), "MESHSTREAM_APP_ID": f"startup-{uuid.uuid4().hex[:8]}",
           "MESHSTREAM_SESSION_TIMEOUT": "6", "MESHSTREAM_STEP_TIMEOUT_CAP": "30",
           "MESHSTREAM_QUEUE_TIMEOUT_CAP": "30",
           "MESHSTREAM_TIMEOUT_CHECK_SECONDS": "2"}
    workers = [WorkerProcess(env, tmp_path / f"worker-{i}.log") for i in range(3)]
    try:
        for w in workers:  # launched back to back, before any of them registered anything
            w.launch()
        for w in workers:
            w.wait_ready(timeout=180)
        settings = Settings.from_env(env)
        s3 = connect(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
        prefix = f"startup-{uuid.uuid4().hex[:8]}/"
        samples = sample_models()
        # four copies of the samples: enough runs that every worker's partitions get some (6 runs
        # over 4 partitions all landed on one worker once the pipeline got faster)
        upload(s3, "models", {f"{prefix}{i}/{k}": v for i in range(4) for k, v in samples.items()})
        scan_id = Publisher(settings).scan("models", prefix)
        serde = AvroSerde(registry_client(settings))
        completed, failed = terminal_events(settings, serde, scan_id, expected=24, timeout=300, settle=3)
        assert len(completed) == 20 and len(failed) == 4
        assert len({r["payload"]["run_id"] for r in completed + failed}) == 24
        assert all(w.alive for w in workers), "no worker exited"
        busy = [w for w in workers if " completed run=" in w.log()]
        assert len(busy) >= 2, "the scan's work was shared by the workers of the group"
    finally:
        for w in workers:
            w.stop()
