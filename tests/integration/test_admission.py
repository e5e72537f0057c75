"""Admission control and the step clocks on the real stack (issue 18, ADR 0012).

- Fairness: a small scan submitted while a big one runs is not queued behind it.
- Workers joining and leaving every 5 s during a batch: every run finishes once and no step
  waits for a timeout.
- A worker SIGKILLed in the middle of a long step: the step starts again within the heartbeat
  window, not after the queue or execution timeout.

Times come from the events themselves (envelope `occurred_at`, set by the producer of each
event), not from when this test happened to read them.
"""
from __future__ import annotations

import collections
import os
import signal
import threading
import time
import uuid

import pytest
import trimesh

from meshstream.worker_process import WorkerProcess
from processors.discovery import group_models
from processors.storage import list_objects
from registry.serde import AvroSerde, registry_client
from streams.core.envelope import derived_id
from streams.orchestration.admission import SHORT_STEP_MS
from streams.orchestration.workflow import request_id
from streams.client import Publisher
from tests.integration.helpers import Watcher, by_scan, read_topics, read_to_end, terminal_events, upload

pytestmark = pytest.mark.integration

MINIMAL = ("download", "technical-metadata", "thumbnails")


def _tori(n: int, tag: str, sections: int = 40) -> dict[str, bytes]:
    """n small closed meshes, each in its own folder (distinct bytes: distinct models)."""
    out = {}
    for i in range(n):
        mesh = trimesh.creation.torus(major_radius=10 + i % 7 + i / 1000, minor_radius=3,
                                      major_sections=sections, minor_sections=sections // 2)
        out[f"{tag}_{i:03d}/torus.stl"] = mesh.export(file_type="stl")
    return out


def _at(record: dict) -> float:
    """When the event happened (its envelope's occurred_at), in seconds since the epoch."""
    occurred = record["envelope"]["occurred_at"]
    return occurred.timestamp() if hasattr(occurred, "timestamp") else occurred / 1000


def _scan(settings, s3, models: dict[str, bytes], workflow: str = "minimal") -> str:
    prefix = f"admission-{uuid.uuid4().hex[:8]}/"
    upload(s3, "models", {prefix + k: v for k, v in models.items()})
    return Publisher(settings).scan("models", prefix, workflow=workflow)


def _outcomes(settings, serde, scan_id: str, n: int, timeout: float) -> dict:
    """A finished scan as its events tell it: discovered and terminal records (duplicates
    included) and its span, first discovery -> last terminal event, in seconds.

    Waits for n terminal records, not for 2n records of both kinds: a scan whose discovery is
    redone (its worker left or lost the partition mid-scan) repeats discovered events, with the
    same event ids, which the orchestrator ignores; counted with the terminals they ended the
    wait before the runs did (one CI run: 466 discovered, 134 of 300 runs ended)."""
    completed, failed = terminal_events(settings, serde, scan_id, expected=n, timeout=timeout, settle=2)
    terminals = [("processing.completed", r) for r in completed] + [("processing.failed", r) for r in failed]
    discovered = [r for _, r in read_to_end(settings, ("discovery.discovered",), serde, by_scan(scan_id))]
    assert len({r["payload"]["run_id"] for _, r in terminals}) == n, f"{len(terminals)} terminal events of {n} runs"
    start = min(_at(r) for r in discovered)
    end = max(_at(r) for _, r in terminals)
    return {"discovered": discovered, "terminals": terminals, "span": end - start,
            "start": start, "end": end}


def _step_seconds(settings, serde, runs: set[str], stages=MINIMAL) -> list[float]:
    """How long each step of `runs` took from its start (beat 0) to its answer, from the events
    (at most SHORT_STEP_MS for a step that sent no beat 0)."""
    names = ("pipeline.step-started", *(f"{s}.completed" for s in stages))
    found = read_to_end(settings, names, serde, lambda r: r["payload"].get("run_id") in runs)
    started, done = {}, {}
    for name, r in found:
        p = r["payload"]
        if name == "pipeline.step-started" and p["beat"] == 0:
            started.setdefault((p["run_id"], p["stage"]), _at(r))
        elif name != "pipeline.step-started":
            done.setdefault((p["run_id"], name.split(".")[0]), _at(r))
    # a step answered within SHORT_STEP_MS sent no beat 0 (streams/worker/stage_agent.py)
    return [done[k] - started[k] if k in started else SHORT_STEP_MS / 1000 for k in done]


# -- fairness -------------------------------------------------------------------------------------

BIG = 300  # long enough to still run when the small scan ends (~40 models/s: 8 s on CI)

def test_a_small_scan_is_not_queued_behind_a_big_one(settings, s3, worker):
    serde = AvroSerde(registry_client(settings))
    small = _tori(5, "small", sections=24)
    alone = _outcomes(settings, serde, _scan(settings, s3, small), 5, timeout=120)

    big_id = _scan(settings, s3, _tori(BIG, "big", sections=24))
    first_big = Watcher(settings, serde, ("discovery.discovered",), by_scan(big_id))
    try:
        assert first_big.wait_for(BIG, timeout=60) == BIG, "the big scan was discovered"
    finally:
        first_big.close()
    time.sleep(1.0)  # the big scan's first requests are out: its runs fill the admission slots
    busy = _outcomes(settings, serde, _scan(settings, s3, small), 5, timeout=180)
    big = _outcomes(settings, serde, big_id, BIG, timeout=240)
    # one step: the longest the small scan's steps took, start to answer, beside the big scan
    step = max(_step_seconds(settings, serde, {r["payload"]["run_id"] for _, r in busy["terminals"]}))
    after_small = sum(_at(r) > busy["end"] for _, r in big["terminals"])
    print(f"small scan alone {alone['span']:.1f} s (longest step {step:.1f} s); beside the big scan "
          f"{busy['span']:.1f} s; the big scan {big['span']:.1f} s, ended {big['end'] - busy['end']:.1f} s "
          f"after the small one, {after_small} of its runs after it")
    # round robin between scans: the small scan's steps take every other free slot, so it
    # finishes in about its own time plus one step (a queue in arrival order put it behind the
    # big scan's steps: 51 s beside 8 s alone when round robin was taken out)
    assert busy["span"] <= alone["span"] + step + 3.0, (busy["span"], alone["span"], step)
    # and it did not wait for the big scan either: much of the big scan was still to come (with
    # arrival order it finished first and the small scan's runs ended after all of its runs)
    assert after_small >= BIG // 4, f"only {after_small} of {BIG} big runs ended after the small scan"


# -- workers joining and leaving --------------------------------------------------------------------

REBALANCE_ALLOWANCE = 2.5  # seconds of batch wall time per worker joining or leaving


class Churn(threading.Thread):
    """From the start, every `period` seconds one extra worker (the session worker's group) joins
    or leaves, in turn: each lives `period` seconds, most of it starting up, the harshest case."""

    def __init__(self, env: dict, log_dir, period: float = 5.0):
        super().__init__(daemon=True)
        self.env, self.log_dir, self.period = env, log_dir, period
        self.stopping = threading.Event()
        self.joined = self.left = 0
        self.workers: list[WorkerProcess] = []

    def run(self) -> None:
        n, members = 0, []
        while True:
            if not members:  # join, leave, join, leave, ...
                w = WorkerProcess(dict(self.env), self.log_dir / f"churn-{n}.log").launch()
                self.workers.append(w)
                members.append(w)
                self.joined += 1
            else:
                # SIGTERM: it leaves the group; not awaited, the next join or leave comes 5 s later
                members.pop(0).proc.send_signal(signal.SIGTERM)
                self.left += 1
            n += 1
            if self.stopping.wait(self.period):
                return

    def finish(self) -> None:
        self.stopping.set()
        self.join()
        for w in self.workers:
            w.stop()


def _batch(settings, s3, serde, models: dict[str, bytes]) -> tuple[float, dict]:
    started = time.monotonic()
    scan_id = _scan(settings, s3, models)
    outcome = _outcomes(settings, serde, scan_id, len(models), timeout=600)
    return time.monotonic() - started, outcome


def test_workers_joining_and_leaving_during_a_batch_neither_lose_nor_repeat_work(settings, s3, worker, tmp_path):
    serde = AvroSerde(registry_client(settings))
    n = 300  # the batch; tori of 8,192 triangles: long enough for two joins and two leaves
    _batch(settings, s3, serde, _tori(20, "warm-up", sections=24))  # the undisturbed figure at full speed
    quiet_wall, quiet = _batch(settings, s3, serde, _tori(n, "quiet", sections=64))
    churn = Churn(worker.env, tmp_path)
    churn.start()
    try:
        wall, busy = _batch(settings, s3, serde, _tori(n, "churn", sections=64))
    finally:
        churn.finish()
    print(f"{n} models: undisturbed {quiet['span']:.1f} s, with {churn.joined} joins and {churn.left} leaves "
          f"{busy['span']:.1f} s")
    assert churn.joined >= 2 and churn.left >= 1, "the batch outlasted joins and leaves"
    by_run = collections.defaultdict(set)
    for name, r in busy["terminals"]:
        by_run[r["payload"]["run_id"]].add((name, r["envelope"]["event_id"]))
    assert len(by_run) == n and all(len(v) == 1 for v in by_run.values()), "every run ended once"
    assert {name for v in by_run.values() for name, _ in v} == {"processing.completed"}
    rescued = _assert_no_step_waited_for_a_timeout(settings, serde, [r for _, r in busy["terminals"]])
    # a worker that leaves abandons the steps it is running (their answer is never sent; issue
    # 18, open): the heartbeat clock requests them again, at most the steps running per leave
    print(f"steps requested again after their worker left mid-step: {rescued}")
    assert rescued <= 2 * churn.left
    # each join or leave pauses the group for a rebalance (seconds, whatever the batch): a bound
    # per membership change, not a ratio, which tightened as the undisturbed batch got faster
    # (9.1-9.7 s in session 10, 7.7 s now; one CI run then took 16.4 s with 5 changes, 1.7 s each)
    changes = churn.joined + churn.left
    assert busy["span"] < quiet["span"] + REBALANCE_ALLOWANCE * changes, (busy["span"], quiet["span"], changes)


def _assert_no_step_waited_for_a_timeout(settings, serde, terminals: list[dict]) -> int:
    """Every step was requested once, or again only after a reported failure (a stage's failed
    event) or after it had started (its worker left mid-step and the heartbeat clock noticed):
    never because a request went unstarted (a record stranded across a rebalance, noticed only
    by the queue timeout). Returns the steps requested again after they had started."""
    extra = {(r["payload"]["run_id"], s["stage"]): s["attempts"] - 1
             for r in terminals for s in r["payload"]["stages"] if s["attempts"] > 1}
    if not extra:
        return 0
    runs = {run for run, _ in extra}
    found = read_topics(settings, [*(f"{s}.failed" for s in MINIMAL), "pipeline.step-started"], serde,
                        lambda r: r["payload"].get("run_id") in runs, expected=sum(extra.values()),
                        timeout=30, settle=2)
    reported = collections.Counter((r["payload"]["run_id"], name.split(".")[0]) for name, r in found
                                   if name != "pipeline.step-started" and r["payload"]["error"]["code"] != "timeout")
    started = {r["payload"]["request_id"] for name, r in found if name == "pipeline.step-started"}
    unexplained, rescued = {}, 0
    for (run, stage), n in extra.items():
        for attempt in range(1, max(0, n - reported[(run, stage)]) + 1):
            if request_id(run, stage, attempt) in started:
                rescued += 1  # started, then its worker left: the heartbeat clock noticed
            else:
                unexplained[(run, stage)] = attempt
    assert not unexplained, f"requests never started, requested again by the queue timeout: {unexplained}"
    return rescued


# -- a worker killed mid-step -------------------------------------------------------------------------

@pytest.fixture
def two_workers(worker, tmp_path):
    """The session worker stopped, and two workers of its group (its env) with the queue and
    execution timeouts at 150 s, so only the heartbeat (30 s) can notice a lost step sooner."""
    worker.stop()
    env = {**worker.env, "MESHSTREAM_STEP_TIMEOUT_CAP": "150", "MESHSTREAM_QUEUE_TIMEOUT_CAP": "150"}
    pair = [WorkerProcess(env, tmp_path / f"pair-{i}.log") for i in range(2)]
    try:
        for w in pair:
            w.launch()
        for w in pair:
            w.wait_ready(180)
        yield pair
    finally:
        for w in pair:
            w.stop()
        worker.start()


def test_a_worker_killed_mid_step_is_noticed_within_the_heartbeat_window(settings, s3, two_workers):
    serde = AvroSerde(registry_client(settings))
    # a long thumbnails step: standard views and a turntable of an 82k-triangle sphere (~20 s)
    ball = trimesh.creation.icosphere(subdivisions=6, radius=20.0).export(file_type="stl")
    prefix = f"admission-{uuid.uuid4().hex[:8]}/"
    upload(s3, "models", {prefix + "ball/ball.stl": ball})
    (model,) = group_models(list_objects(s3, "models", prefix))
    scan_id = Publisher(settings).scan("models", prefix, workflow="standard")
    run_id = derived_id(scan_id, model.model_id, "standard")  # how discovery names the run
    beats = Watcher(settings, serde, ("pipeline.step-started",),
                    lambda r: r["payload"]["run_id"] == run_id and r["payload"]["stage"] == "thumbnails")
    try:
        deadline, first = time.monotonic() + 120, None
        while first is None and time.monotonic() < deadline:
            beats.poll(0.2)
            first = next((r for _, r in beats.records if r["payload"]["beat"] == 0), None)
        assert first is not None, "thumbnails never started"
        pid = int(first["payload"]["worker"].rsplit(":", 1)[1])
        (victim,) = [w for w in two_workers if w.proc.pid == pid]
        survivor = next(w for w in two_workers if w is not victim)
        os.killpg(victim.proc.pid, signal.SIGKILL)  # the worker and its pool processes, like a lost node
        killed_at = time.time()
        victim.proc.wait()

        def restarted():
            return [r for _, r in beats.records if r["payload"]["beat"] == 0 and _at(r) > killed_at]
        deadline = time.monotonic() + 150
        while not restarted() and time.monotonic() < deadline:
            beats.poll(0.5)
        again = restarted()
        assert again, "the lost step never started again"
        delay = _at(again[0]) - killed_at
        print(f"thumbnails started again {delay:.1f} s after its worker was killed "
              f"(request {'re-delivered' if again[0]['payload']['request_id'] == first['payload']['request_id'] else 'sent again'})")
        assert again[0]["payload"]["worker"].endswith(f":{survivor.proc.pid}")
        # the heartbeat timeout is 30 s (workflows.yaml), the sweep runs every 2 s; the queue and
        # execution timeouts are 150 s here
        assert delay < 35, delay
    finally:
        beats.close()
    terminals = _outcomes(settings, serde, scan_id, 1, timeout=180)["terminals"]
    assert [name for name, _ in terminals] == ["processing.completed"]
    assert not terminals[0][1]["payload"]["degraded"]

