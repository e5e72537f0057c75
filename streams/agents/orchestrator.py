"""The orchestrator: owns every workflow run, in a changelog-backed table keyed by run id.

It consumes model-discovered events and every stage's completed/failed events (all keyed by run
id and co-partitioned with the table), applies streams.workflow transitions, requests the next
stages, and emits exactly one terminal event per run. Transitions are idempotent, so redelivered
or replayed events change nothing.
"""
from __future__ import annotations

import copy
import time

import faust

from streams import workflow as wf
from streams.envelope import derived_id, envelope
from streams.requests import build_request, result_of
from streams.runtime import log

STAGE = "orchestrator"


def _stage_result_topics(rt) -> list[str]:
    stages = sorted({s.stage for f in wf.default_workflows().values() if f.status == "active" for s in f.steps})
    return [f"{s}.{kind}" for s in stages for kind in ("completed", "failed")]


def register(app, rt) -> None:
    discovered = rt.manifest.by_name("discovery.discovered")
    runs = app.Table("workflow-runs", default=None, partitions=discovered.partitions,
                     # Faust derives the changelog serializers from these types (bytes -> raw,
                     # untyped -> json); a mismatch makes recovery hang, so keep them explicit.
                     key_type=bytes, value_type=None,
                     # the changelog partition comes from the key (murmur2, like every producer
                     # of our run-keyed topics), so the timeout timer may update runs too
                     use_partitioner=True)
    source = rt.topic("discovery.discovered", *_stage_result_topics(rt))

    @app.timer(interval=rt.settings.timeout_check_seconds)
    async def step_timeouts():
        """Re-request a step whose answer is overdue (a lost or stuck request must not strand a
        run), and fail it after max_attempts. Only runs in partitions this worker owns."""
        owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == discovered.topic}
        now = _now()
        for key, run in list(runs.items()):
            if run is None or run["terminal"] is not None or run.get("partition") not in owned:
                continue
            try:
                await on_timeouts(rt, runs, key, copy.deepcopy(run), now)
            except Exception:  # noqa: BLE001 - one bad run must not stop the sweep
                log.exception("timeout sweep failed for run %s", run.get("run_id"))

    async def handle(rt, contract, record):
        if contract.name == "discovery.discovered":
            await on_discovered(rt, runs, record)
        else:
            await on_stage_result(rt, runs, contract, record)

    @app.agent(source, name=STAGE)
    async def orchestrator(stream):
        await rt.consume(stream, STAGE, handle)


def _now() -> int:
    return int(time.time() * 1000)


async def _request(rt, run: dict, stages, causation_id: str | None) -> None:
    for stage in stages:
        attempt = run["steps"][stage]["attempts"]
        env = envelope(STAGE, run["run_id"], causation_id,
                       event_id=derived_id(STAGE, run["run_id"], stage, str(attempt)))
        await rt.send(f"{stage}.requested", run["run_id"], build_request(stage, run), env)


async def on_discovered(rt, runs, record: dict) -> None:
    p, env_in = record["payload"], record["envelope"]
    run_id = p["run_id"]
    if runs.get(run_id.encode()) is not None:
        return  # replayed or redelivered discovery: the run already exists
    try:
        flow = wf.runnable(p["workflow"])
    except wf.WorkflowError as exc:
        run = {**p, "workflow": p["workflow"], "steps": {}, "terminal": wf.FAILED}
        await _terminal(rt, run, wf.Decision(terminal=wf.FAILED, failed_stage=STAGE, error={
            "code": exc.code, "error_class": type(exc).__name__, "message": str(exc), "retryable": False}),
            env_in["event_id"])
        runs[run_id.encode()] = run
        return
    run = wf.new_run(flow, {k: p.get(k) for k in ("run_id", "model_id", "scan_id", "name", "folder", "files", "owner_id")}, _now())
    run["partition"] = faust.current_event().message.partition
    decision = wf.start(flow, run, _now())
    await _request(rt, run, decision.requests, env_in["event_id"])
    runs[run_id.encode()] = run


async def on_stage_result(rt, runs, contract, record: dict) -> None:
    p, env_in = record["payload"], record["envelope"]
    key = p["run_id"].encode()
    run = copy.deepcopy(runs.get(key))  # the store's own dict changes only through runs[key] = ...
    if run is None or run["terminal"] is not None:
        return
    flow = wf.runnable(run["workflow"])
    ok = contract.event == "completed"
    error = p.get("error")
    stage = contract.stage
    step_state = run["steps"].get(stage)
    if (not ok and error and error.get("retryable") and step_state
            and step_state["status"] == wf.REQUESTED and step_state["attempts"] < flow.step(stage).max_attempts):
        step_state["attempts"] += 1
        step_state["requested_at"] = _now()
        await _request(rt, run, [stage], env_in["event_id"])
        runs[key] = run
        return
    result = {k: v for k, v in p.items() if k not in ("run_id", "model_id", "error")} if ok else None
    decision = wf.record(flow, run, stage, ok, _now(), result=result, error=error,
                         processor_version=env_in["producer"]["version"])
    await _request(rt, run, decision.requests, env_in["event_id"])
    if decision.terminal:
        await _terminal(rt, run, decision, env_in["event_id"])
    runs[key] = run  # after the terminal event is acked: a crash in between re-emits the same event id


async def on_timeouts(rt, runs, key: bytes, run: dict, now: int) -> None:
    flow = wf.runnable(run["workflow"])
    expired = wf.expired(flow, run, now, cap_seconds=rt.settings.step_timeout_cap)
    if not expired:
        return
    for stage in expired:
        state = run["steps"][stage]
        if state["attempts"] < flow.step(stage).max_attempts:
            log.warning("run %s: %s overdue after attempt %d; requesting again", run["run_id"], stage, state["attempts"])
            state["attempts"] += 1
            state["requested_at"] = now
            await _request(rt, run, [stage], causation_id=None)
            continue
        error = {"code": "timeout", "error_class": "StepTimeout", "retryable": False,
                 "message": f"{stage} did not answer after {state['attempts']} attempts"}
        decision = wf.record(flow, run, stage, False, now, error=error)
        await _request(rt, run, decision.requests, causation_id=None)
        if decision.terminal:
            await _terminal(rt, run, decision, causation_id=None)
            break
    runs[key] = run


async def _terminal(rt, run: dict, decision: wf.Decision, causation_id: str | None) -> None:
    log.info("run %s %s model=%s name=%s", run["run_id"], decision.terminal, run["model_id"], run["name"])
    env = envelope(STAGE, run["run_id"], causation_id, event_id=derived_id("terminal", run["run_id"]))
    common = {"run_id": run["run_id"], "model_id": run["model_id"], "scan_id": run["scan_id"],
              "name": run["name"], "workflow": run["workflow"], "files": run["files"]}
    if decision.terminal == wf.COMPLETED:
        md = result_of(run, "technical-metadata").get("metadata")
        results = [s["result"]["result"] for s in run["steps"].values()
                   if s.get("result") and isinstance(s["result"].get("result"), dict)]
        results += [img["image"] for img in result_of(run, "thumbnails").get("images", [])]
        stages = [{"stage": name, "status": s["status"], "processor_version": s["processor_version"]}
                  for name, s in run["steps"].items()]
        await rt.send("processing.completed", run["run_id"],
                      {**common, "metadata": md, "stages": stages, "results": results}, env)
    else:
        await rt.send("processing.failed", run["run_id"],
                      {**common, "failed_stage": decision.failed_stage, "error": decision.error}, env)
