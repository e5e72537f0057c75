"""Replay on the real stack: one new run per model, a second replay of the same range that starts
nothing and says which runs were already started, a range holding originals and their replayed
copies that starts one run per model, dry runs whose numbers equal the real runs', a completed
range replayed as new runs (linked by causation_id) whose results equal the originals, and
reprocess touching only models whose results are stale."""
from __future__ import annotations

import time
import uuid

import pytest

from processors.version import PROCESSOR_VERSION
from processors.samples import sample_models
from registry.serde import AvroSerde, registry_client
from streams.client import Publisher
from streams.client.replay import replay_topic, reprocess
from streams.client.replay_plan import REPLAYED_COPY
from tests.integration.helpers import read_to_end, read_topics, terminal_events, upload

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def serde(settings):
    return AvroSerde(registry_client(settings))


def _terminals_of(settings, serde, run_ids, expected, timeout=120.0, settle=3.0):
    return [r for _, r in read_topics(settings, ("processing.completed", "processing.failed"), serde,
                                      lambda r: r["payload"]["run_id"] in run_ids, expected,
                                      timeout=timeout, settle=settle)]


def _metadata_doc(s3, settings, model_id: str):
    """When the model's technical-metadata document was last written."""
    return s3.stat_object(settings.results_bucket, f"{model_id}/technical-metadata/metadata.json").last_modified


def _comparable(payload: dict) -> dict:
    md = dict(payload["metadata"])
    return {"model_id": payload["model_id"], "metadata": md, "workflow": payload["workflow"],
            "stages": sorted((s["stage"], s["status"], s["processor_version"]) for s in payload["stages"])}


FIVE = ("cube_10mm.stl", "sphere_r5.stl", "torus.obj", "cylinder.ply", "bracket/bracket_part_01.stl")


def _numbers(summary) -> tuple:
    """What a person reads in a summary: counts, ids, reasons, models (dry and real must agree)."""
    d = summary.as_dict()
    return (d["read"], [i["id"] for i in d["started"]], [i["id"] for i in d["already_started"]],
            d["skipped_by_reason"], d["models"])


def _cli_json(stack_env, *args) -> dict:
    import json
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = subprocess.run([sys.executable, "-m", "meshstream.cli", *args, "--json"], cwd=ROOT, timeout=120,
                         env={**os.environ, **stack_env}, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def _completions(settings, serde, models, workflow, expected, timeout=180.0, settle=0.0):
    return [r for _, r in read_topics(settings, ("processing.completed",), serde,
                                      lambda r: r["payload"]["model_id"] in models
                                      and r["payload"]["workflow"] == workflow,
                                      expected, timeout=timeout, settle=settle)]


def test_a_second_replay_starts_nothing_and_says_which_runs_were_started(settings, s3, worker, serde, stack_env):
    """The issue's story: 5 models scanned on `minimal`, the discovery topic replayed from then on
    with `standard`, then the same command again (the topic now also holds the first replay's 5
    discoveries)."""
    prefix = f"replay5-{uuid.uuid4().hex[:8]}/"
    samples = sample_models()
    upload(s3, "models", {prefix + k: samples[k] for k in FIVE})
    t0 = int(time.time() * 1000)
    scan_id = Publisher(settings).scan("models", prefix, workflow="minimal")
    originals, failed = terminal_events(settings, serde, scan_id, expected=5, settle=1)
    assert len(originals) == 5 and not failed
    models = {r["payload"]["model_id"] for r in originals}
    assert len(models) == 5

    dry = replay_topic(settings, "discovery.discovered", start=("time", t0), workflow="standard", dry_run=True)
    first = replay_topic(settings, "discovery.discovered", start=("time", t0), workflow="standard")
    assert _numbers(dry) == _numbers(first), "the dry run's numbers are the real run's"
    assert (len(first.started), first.already_started, first.skipped, first.models) == (5, [], [], sorted(models))
    new_ids = {i.id for i in first.started}
    assert len(_completions(settings, serde, models, "standard", expected=5)) == 5

    # the same command again, as a person would: the CLI's dry run, then the real replay
    again_dry = _cli_json(stack_env, "replay", "topic", "model.discovery.discovered.v1", "--from", f"{t0}ms",
                          "--workflow", "standard", "--dry-run")
    again = replay_topic(settings, "discovery.discovered", start=("time", t0), workflow="standard")
    assert again.started == [], "the second replay starts no run"
    assert {i.id for i in again.already_started} == new_ids, "and names the 5 runs the first one started"
    assert again.read == 10 and again.skipped_by_reason() == {REPLAYED_COPY: 5} and again.models == sorted(models)
    assert (again_dry["read"], again_dry["started"], [i["id"] for i in again_dry["already_started"]],
            again_dry["skipped_by_reason"], again_dry["models"]) == _numbers(again)
    # a run exists only through its discovery: the topic holds the first replay's 5, no more
    # (the replay's writes are flushed before it returns, so reading to the end proves it at once)
    replayed = read_to_end(settings, ("discovery.discovered",), serde,
                           lambda r: r["payload"]["model_id"] in models and r["payload"]["workflow"] == "standard")
    assert sorted(r["payload"]["run_id"] for _, r in replayed) == sorted(new_ids)
    standard = [r for _, r in read_to_end(settings, ("processing.completed",), serde,
                                          lambda r: r["payload"]["model_id"] in models and r["payload"]["workflow"] == "standard")]
    assert len(standard) == 5, "the terminal topic holds exactly 5 completions of the new workflow"
    assert {r["payload"]["run_id"] for r in standard} == new_ids

    # originals and their copies in one range, another workflow: one run per model, from the originals
    third = replay_topic(settings, "discovery.discovered", start=("time", t0), workflow="minimal")
    assert len(third.started) == 5 and third.models == sorted(models)
    discovered = read_topics(settings, ("discovery.discovered",), serde, lambda r: r["payload"]["scan_id"] == scan_id
                             and r["payload"]["run_id"] in {r["payload"]["run_id"] for r in originals}, 5,
                             timeout=30, settle=0)
    assert {i.caused_by for i in third.started} == {r["envelope"]["event_id"] for _, r in discovered}
    assert len(_completions(settings, serde, models, "minimal", expected=10)) == 10  # 5 originals + 5 new


def test_replaying_a_completed_range_makes_equal_new_runs_once(settings, s3, worker, serde):
    prefix = f"replay-{uuid.uuid4().hex[:8]}/"
    samples = sample_models()
    upload(s3, "models", {prefix + k: samples[k] for k in ("cube_10mm.stl", "torus.obj")})
    t0 = int(time.time() * 1000)
    scan_id = Publisher(settings).scan("models", prefix, workflow="minimal")
    originals, failed = terminal_events(settings, serde, scan_id, expected=2, settle=1)
    assert len(originals) == 2 and not failed
    t1 = int(time.time() * 1000) + 1
    by_model = {r["payload"]["model_id"]: r for r in originals}

    dry = replay_topic(settings, "processing.completed", start=("time", t0), end=("time", t1), dry_run=True)
    assert dry.read == 2 and len(dry.started) == 2 and dry.dry_run
    new_ids = {i.id for i in dry.started}
    causes = {r["envelope"]["event_id"] for r in originals}
    assert not read_to_end(settings, ("discovery.discovered",), serde,
                           lambda r: r["payload"]["run_id"] in new_ids or r["envelope"]["causation_id"] in causes), \
        "a dry run changes nothing"

    docs = {m: _metadata_doc(s3, settings, m) for m in by_model}
    done = replay_topic(settings, "model.processing.completed.v1", start=("time", t0), end=("time", t1))
    assert _numbers(done) == _numbers(dry) and {i.id for i in done.started} == new_ids
    replayed = _terminals_of(settings, serde, new_ids, expected=2)
    assert len(replayed) == 2
    for record in replayed:
        original = by_model[record["payload"]["model_id"]]
        assert record["payload"]["run_id"] != original["payload"]["run_id"]
        assert _comparable(record["payload"]) == _comparable(original["payload"])
    # same inputs, same processor version: every stage reused its result (nothing written again)
    assert {m: _metadata_doc(s3, settings, m) for m in by_model} == docs
    # the new runs are linked to the originals: the discovered event's causation is the original terminal event
    discovered = read_topics(settings, ("discovery.discovered",), serde, lambda r: r["payload"]["run_id"] in new_ids,
                             2, timeout=30, settle=0)
    assert {r["envelope"]["causation_id"] for _, r in discovered} == {r["envelope"]["event_id"] for r in originals}

    again = replay_topic(settings, "processing.completed", start=("time", t0), end=("time", t1))
    assert again.started == [] and {i.id for i in again.already_started} == new_ids
    again_discovered = read_to_end(settings, ("discovery.discovered",), serde, lambda r: r["envelope"]["causation_id"] in causes)
    assert {r["payload"]["run_id"] for _, r in again_discovered} == new_ids and len(again_discovered) == 2, \
        "replaying the same range twice starts no second run"
    assert len(read_to_end(settings, ("processing.completed", "processing.failed"), serde,
                           lambda r: r["payload"]["run_id"] in new_ids)) == 2


def test_reprocess_touches_only_models_with_stale_results(settings, s3, worker, serde):
    prefix = f"reprocess-{uuid.uuid4().hex[:8]}/"
    samples = sample_models()
    upload(s3, "models", {prefix + k: samples[k] for k in ("cube_10mm.stl", "sphere_r5.stl")})
    since = int(time.time() * 1000)
    scan_id = Publisher(settings).scan("models", prefix, workflow="minimal")
    current, _ = terminal_events(settings, serde, scan_id, expected=2, settle=1)
    assert len(current) == 2
    # an older deployment's result for the sphere: the same run, made by processor version 0.0.1
    sphere = next(r for r in current if "sphere" in r["payload"]["name"])
    old = {**sphere["payload"], "run_id": str(uuid.uuid4()),
           "stages": [{**s, "processor_version": "0.0.1"} for s in sphere["payload"]["stages"]]}
    Publisher(settings).publish("processing.completed", old["run_id"], old, correlation_id=old["run_id"])

    plan = reprocess(settings, since=("time", since), dry_run=True)
    assert [i.model_id for i in plan.started] == [sphere["payload"]["model_id"]]
    assert plan.skipped_by_reason()["up to date"] >= 1  # the cube (and models of earlier tests)
    written = _metadata_doc(s3, settings, sphere["payload"]["model_id"])
    done = reprocess(settings, since=("time", since), force=True)
    assert _numbers(done) == _numbers(plan)
    (stale,) = done.started
    (result,) = _terminals_of(settings, serde, {stale.id}, expected=1)
    assert result["payload"]["model_id"] == stale.model_id
    assert {s["processor_version"] for s in result["payload"]["stages"]} == {PROCESSOR_VERSION}
    assert _metadata_doc(s3, settings, stale.model_id) > written, "--force recomputed (and rewrote) the results"
    assert reprocess(settings, since=("time", since), dry_run=True).started == [], "nothing is stale any more"


def test_reset_group_rewinds_a_stopped_group_and_refuses_a_live_one(prepared, settings, serde):
    from confluent_kafka import Consumer, TopicPartition

    from registry.manifest import default_manifest
    from streams.client.replay import ReplayError, reset_group

    topic = default_manifest().by_name("discovery-scan.requested").topic
    group = f"reset-{uuid.uuid4().hex[:8]}"
    before = int(time.time() * 1000)
    scan_id = Publisher(settings).scan("models", "nothing-here/", workflow="minimal")
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group,
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe([topic])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        msg = consumer.poll(0.5)
        if msg is not None and not msg.error() and msg.key() == scan_id.encode():
            consumer.commit(msg, asynchronous=False)
            break
    partition, offset = msg.partition(), msg.offset()
    try:
        with pytest.raises(ReplayError, match="live member"):
            reset_group(settings, group, before)
    finally:
        consumer.close()
    targets = reset_group(settings, group, before)
    moved = {(tp.topic, tp.partition): tp.offset for tp in targets}
    assert moved[(topic, partition)] <= offset  # rewound to (at most) our scan's record
    check = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group})
    try:
        (committed,) = check.committed([TopicPartition(topic, partition)], timeout=10)
    finally:
        check.close()
    assert committed.offset == moved[(topic, partition)]
