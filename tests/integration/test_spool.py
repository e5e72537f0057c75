"""Publisher durability: a scan published while the broker is down is spooled on disk, survives
the publishing process, and is delivered exactly once when the broker is back.

This module starts its OWN private Kafka + registry (no S3, no worker: only the publish path is
under test) because it stops the broker, which the session stack's other users must not see.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid

import pytest

from registry.serde import AvroSerde, registry_client
from streams.client import Publisher
from streams.core.settings import Settings
from tests.conftest import ROOT
from tests.integration.helpers import read_topics

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory):
    from stack.config import StackConfig
    from stack.services import Kafka, SchemaRegistry

    config = StackConfig().with_free_ports(tmp_path_factory.mktemp("spool-stack"))
    kafka, registry = Kafka(config), SchemaRegistry(config)
    try:
        kafka.start()
        kafka.wait()
        registry.start()
        registry.wait()
        yield config, kafka
    finally:
        registry.process.stop()
        kafka.process.stop()


def _cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "meshstream.cli", *args], cwd=ROOT, env={**os.environ, **env},
                          capture_output=True, text=True, timeout=120)


def test_scan_during_broker_outage_is_spooled_and_delivered_once(private_stack):
    from streams.worker.main import prepare

    config, kafka = private_stack
    env = {**config.client_env(), "MESHSTREAM_PUBLISH_TIMEOUT": "4"}
    settings = Settings.from_env(env)
    prepare(settings)
    publisher = Publisher(settings)
    warm = publisher.scan("models", "before-outage/")  # caches the schema id while all is up
    assert publisher.pending() == 0

    scan_id = f"spooled-{uuid.uuid4().hex[:8]}"
    assert kafka.process.stop(), "the private broker was running"
    try:
        # a fresh CLI process publishes while the broker is down: it must return, spooled
        done = _cli(env, "scan", "--bucket", "models", "--prefix", "during-outage/", "--scan-id", scan_id)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == scan_id
        assert "spooled" in done.stderr
        status = _cli(env, "spool", "status")
        assert status.stdout.startswith("1 record(s) spooled"), status.stdout + status.stderr
    finally:
        kafka.start()
        kafka.wait()

    delivered = _cli(env, "spool", "deliver")
    assert delivered.returncode == 0, delivered.stdout + delivered.stderr
    assert "delivered 1, still spooled 0" in delivered.stdout
    # delivering again (and publishing more through the old producer) sends nothing twice
    assert _cli(env, "spool", "deliver").stdout.startswith("delivered 0")
    after = publisher.scan("models", "after-outage/")
    assert publisher.pending() == 0

    serde = AvroSerde(registry_client(settings))
    wanted = {warm, scan_id, after}
    found = read_topics(settings, ("discovery-scan.requested",), serde,
                        lambda r: r["payload"]["scan_id"] in wanted, expected=3, timeout=60, settle=3)
    by_id: dict[str, list[dict]] = {}
    for _, record in found:
        by_id.setdefault(record["payload"]["scan_id"], []).append(record)
    assert {k: len(v) for k, v in by_id.items()} == {warm: 1, scan_id: 1, after: 1}
    spooled = by_id[scan_id][0]
    assert spooled["payload"]["prefix"] == "during-outage/"
    assert spooled["envelope"]["correlation_id"] == scan_id
