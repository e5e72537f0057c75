"""Workflows on the real stack: every variant end to end, the planned one refused, retries with
backoff through a real storage outage, a registry outage that dead-letters nothing, deterministic
failures never retried, and optional steps that fail leaving a degraded (not failed) run."""
from __future__ import annotations

import time
import uuid

import pytest

from processors.samples import sample_models
from registry.serde import AvroSerde, registry_client
from streams.orchestration import workflow as wf
from streams.client import Publisher
from tests.integration.faults import TcpProxy
from tests.integration.helpers import Watcher, by_scan, read_topics, terminal_events, upload

pytestmark = pytest.mark.integration

MODELS = ("cube_10mm.stl", "bracket/bracket_part_01.stl", "bracket/bracket_part_02.stl")


@pytest.fixture(scope="module")
def serde(settings):
    return AvroSerde(registry_client(settings))


def _upload_models(s3, tag: str) -> str:
    prefix = f"{tag}-{uuid.uuid4().hex[:8]}/"
    samples = sample_models()
    upload(s3, "models", {prefix + "library/" + k: samples[k] for k in MODELS})
    return prefix


def test_every_active_workflow_runs_end_to_end(settings, s3, worker, serde):
    flows = wf.default_workflows()
    active = sorted(name for name, f in flows.items() if f.active)
    assert {"minimal", "standard", "complete", "folder-aware", "marketplace-listing"} <= set(active)
    publisher = Publisher(settings)
    scans = {}
    for name in active:  # all at once: the worker interleaves them
        scans[name] = publisher.scan("models", _upload_models(s3, name), workflow=name, owner_id=f"owner-{name}")
    for name, scan_id in scans.items():
        completed, failed = terminal_events(settings, serde, scan_id, expected=2, timeout=300, settle=0)
        assert not failed, [f["payload"]["error"] for f in failed]
        assert len(completed) == 2, name
        for record in completed:
            p = record["payload"]
            assert p["workflow"] == name and p["owner_id"] == f"owner-{name}" and p["degraded"] == []
            assert {s["stage"]: s["status"] for s in p["stages"]} == {s: "completed" for s in flows[name].stages}
            assert all(s["attempts"] == 1 for s in p["stages"])
        ids = {r["payload"]["collection_id"] for r in completed}
        if name == "folder-aware":  # both models sit in the scan's `library/` folder: one collection
            assert len(ids) == 1 and None not in ids
        else:
            assert ids == {None}


def test_an_unknown_workflow_is_refused_with_a_clear_dead_letter(settings, s3, worker, serde):
    # (no shipped workflow is planned any more; the planned refusal is unit-tested in test_workflow.py)
    scan_id = Publisher(settings).scan("models", _upload_models(s3, "unknown"), workflow="no-such-workflow")
    (letter,) = [r for _, r in read_topics(settings, ("pipeline.dead-lettered",), serde,
                                           lambda r: r["payload"]["original_key"] == scan_id.encode(), 1,
                                           timeout=60, settle=1)]
    error = letter["payload"]["error"]
    assert error["code"] == "unknown_workflow" and "no-such-workflow" in error["message"] and not error["retryable"]


def test_an_unsupported_storage_provider_is_refused_not_ignored(settings, worker, serde):
    scan_id = str(uuid.uuid4())
    Publisher(settings).publish("discovery-scan.requested", scan_id, {
        "scan_id": scan_id, "storage": "default", "bucket": "models", "prefix": "x/", "workflow": "minimal",
        "owner_id": None, "provider": "azure_blob", "objects_manifest": None, "options": None}, correlation_id=scan_id)
    (letter,) = [r for _, r in read_topics(settings, ("pipeline.dead-lettered",), serde,
                                           lambda r: r["payload"]["original_key"] == scan_id.encode(), 1,
                                           timeout=60, settle=1)]
    assert letter["payload"]["error"]["code"] == "unsupported_provider"
    assert "azure_blob" in letter["payload"]["error"]["message"]


def test_a_transient_storage_outage_is_retried_with_backoff(settings, s3, worker, serde, flaky_storage_port):
    """Download reads through a proxy that refuses connections (storage down): two failed
    attempts, retried after ~1 s and ~2 s; the third, after the storage is back, succeeds."""
    host, port = settings.s3_endpoint.split(":")
    proxy = TcpProxy(flaky_storage_port, (host, int(port)))
    prefix = _upload_models(s3, "flaky")
    run_id, scan_id = str(uuid.uuid4()), str(uuid.uuid4())
    stat = s3.stat_object("models", prefix + "library/cube_10mm.stl")
    watch = Watcher(settings, serde, ("download.requested", "download.failed", "processing.completed",
                                      "processing.failed"), lambda r: r["payload"]["run_id"] == run_id)
    try:
        Publisher(settings).publish("discovery.discovered", run_id, {
            "scan_id": scan_id, "run_id": run_id, "model_id": f"flaky-{run_id[:8]}", "name": "cube", "folder": prefix,
            "workflow": "minimal", "owner_id": None,
            "files": [{"storage": "flaky", "bucket": "models", "key": prefix + "library/cube_10mm.stl",
                       "etag": stat.etag, "size_bytes": stat.size}]}, correlation_id=run_id)
        deadline = time.monotonic() + 90
        while sum(n == "download.failed" for n, _ in watch.records) < 2 and time.monotonic() < deadline:
            watch.poll(0.2)
        proxy.open()
        watch.wait_for(6, timeout=90)  # 3 requests, 2 failures, 1 terminal
    finally:
        proxy.close()
        watch.close()
    requests = [r for n, r in watch.records if n == "download.requested"]
    failures = [r for n, r in watch.records if n == "download.failed"]
    (terminal,) = [r for n, r in watch.records if n.startswith("processing.")]
    assert [f["payload"]["error"]["code"] for f in failures] == ["storage_unavailable"] * 2
    assert all(f["payload"]["error"]["retryable"] for f in failures)
    assert len({r["envelope"]["event_id"] for r in requests}) == 3
    gaps = [(requests[i + 1]["envelope"]["occurred_at"] - failures[i]["envelope"]["occurred_at"]).total_seconds()
            for i in (0, 1)]
    assert 0.85 <= gaps[0] <= 1.8, gaps   # 1 s +/- 10 % jitter, + the 0.2 s wake-up timer and a send
    assert 1.75 <= gaps[1] <= 3.0, gaps   # 2 s +/- 10 %
    assert terminal["payload"]["workflow"] == "minimal"
    stages = {s["stage"]: s for s in terminal["payload"]["stages"]}
    assert stages["download"]["status"] == "completed" and stages["download"]["attempts"] == 3


def test_deterministic_failures_are_not_retried(settings, s3, worker, serde):
    prefix = f"corrupt-{uuid.uuid4().hex[:8]}/"
    upload(s3, "models", {prefix + "corrupt.stl": sample_models()["corrupt.stl"]})
    scan_id = Publisher(settings).scan("models", prefix, workflow="minimal")
    completed, failed = terminal_events(settings, serde, scan_id, expected=1, settle=2)
    (run,) = failed
    assert not completed and run["payload"]["failed_stage"] == "technical-metadata"
    stages = {s["stage"]: s for s in run["payload"]["stages"]}
    assert stages["technical-metadata"]["attempts"] == 1
    requests = read_topics(settings, ("technical-metadata.requested",), serde,
                           lambda r: r["payload"]["run_id"] == run["payload"]["run_id"], 1, timeout=30, settle=2)
    assert len(requests) == 1


def test_a_registry_outage_mid_scan_dead_letters_nothing(stack, settings, s3, worker, serde):
    """The registry is stopped (8 s, plus its restart) while a scan runs: records keep flowing on cached schemas
    and whatever needs the registry waits and retries; every run completes, nothing is dead-lettered."""
    prefix = f"registry-outage-{uuid.uuid4().hex[:8]}/"
    samples = sample_models()
    good = ("cube_10mm.stl", "sphere_r5.stl", "torus.obj", "cylinder.ply")
    upload(s3, "models", {prefix + f"m{i}/" + k: samples[k] for i in range(3) for k in good})
    publisher = Publisher(settings)
    publisher.serde.schema_id(publisher.manifest.by_name("discovery-scan.requested"))  # the publisher's id cached
    letters = Watcher(settings, serde, ("pipeline.dead-lettered",), lambda r: True)
    letters.poll(2)
    before = len(letters.records)
    try:
        scan_id = publisher.scan("models", prefix)
        time.sleep(1.0)
        assert stack.registry.process.stop()
        time.sleep(8)
    finally:
        stack.registry.start()
        stack.registry.wait()
    completed, failed = terminal_events(settings, serde, scan_id, expected=12, timeout=300, settle=2)
    letters.poll(3)
    letters.close()
    assert len(completed) == 12 and not failed
    assert len(letters.records) == before, [r["payload"]["error"] for r in letters.records[before:]]
    assert worker.alive


def test_an_optional_step_that_times_out_leaves_a_degraded_run(settings, s3, worker, serde, tmp_path):
    """A worker without the thumbnails agent (its only consumer is stopped): the optional
    thumbnails step is never started, so its queue timeout (capped at 2 s here) runs out after
    each attempt and the run completes degraded, saying why."""
    from meshstream.worker_process import WorkerProcess

    worker.stop()
    partial = WorkerProcess({**worker.env, "MESHSTREAM_QUEUE_TIMEOUT_CAP": "2"}, tmp_path / "partial.log",
                            stages="discovery,download,technical-metadata,orchestrator")
    try:
        partial.start()
        scan_id = Publisher(settings).scan("models", _upload_models(s3, "degraded"), workflow="minimal")
        completed, failed = terminal_events(settings, serde, scan_id, expected=2, timeout=120, settle=0)
    finally:
        partial.stop()
        worker.start()
    assert len(completed) == 2 and not failed
    for record in completed:
        (degraded,) = record["payload"]["degraded"]
        assert degraded["stage"] == "thumbnails" and degraded["code"] == "timeout"
        assert "not started within 2 s" in degraded["message"]
        assert degraded["attempts"] == wf.default_workflows()["minimal"].step("thumbnails").max_attempts
        stages = {s["stage"]: s["status"] for s in record["payload"]["stages"]}
        assert stages == {"download": "completed", "technical-metadata": "completed", "thumbnails": "failed"}
