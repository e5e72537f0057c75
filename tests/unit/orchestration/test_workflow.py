"""The workflow state machine and definitions, without Kafka: fan-out, joins, blocking and
optional failures (degraded runs), retries with backoff, timeouts, idempotency, validation."""
from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from registry.manifest import default_manifest
from registry.workflows import (
    RetryPolicy, WORKFLOWS_PATH, contract_problems, parse_workflows, structure_problems, validate_workflows,
)
from streams.orchestration import workflow as wf

DOC = {
    "default": "t",
    "defaults": {"max_attempts": 3, "timeout_seconds": 60,
                 "retry": {"initial_seconds": 1, "max_seconds": 8, "multiplier": 2, "jitter": 0.1}},
    "workflows": {
        "t": {"steps": [
            {"stage": "download"},
            {"stage": "thumbnails", "needs": ["download"], "blocking": False},
            {"stage": "technical-metadata", "needs": ["download"]},
            {"stage": "print-analysis", "needs": ["technical-metadata"]},
            {"stage": "listing", "needs": ["thumbnails"], "blocking": False},
        ]},
        "later": {"status": "planned", "steps": [{"stage": "slicing"}]},
    },
}
FLOWS = parse_workflows(DOC)
FLOW = FLOWS["t"]
MODEL = {"run_id": "r", "model_id": "m", "scan_id": "s", "workflow": "t", "name": "cube", "folder": "",
         "files": [], "owner_id": "o"}
OK = {"files": []}


def started(now=0):
    return wf.start(FLOWS, MODEL, now)


def requested(t: wf.Transition) -> set[str]:
    return {e.stage for e in t.requests}


def succeed(t, stage, now, cause=None):
    return wf.apply(FLOW, t.state, wf.StepSucceeded(stage, OK, "1.0", cause), now)


def fail(t, stage, now, code="corrupt_mesh", retryable=False, cause=None):
    error = {"code": code, "error_class": "E", "message": code, "retryable": retryable}
    return wf.apply(FLOW, t.state, wf.StepFailed(stage, error, cause), now)


# -- happy path, joins, optional failures ------------------------------------------------------

def test_start_requests_only_roots_with_deterministic_request_ids():
    t = started()
    assert requested(t) == {"download"}
    (req,) = t.requests
    assert (req.attempt, req.request_id) == (1, wf.request_id("r", "download", 1))
    assert t.state.steps["download"].status == wf.REQUESTED and t.state.steps["download"].attempts == 1
    # until a stage starts it, only the (long) queue timeout runs: queueing is not the stage's fault
    assert any(isinstance(e, wf.ScheduleCheck) and e.at == 3_600_000 for e in t.effects)


def test_fan_out_then_join_then_complete():
    t = succeed(started(), "download", 1)
    assert requested(t) == {"thumbnails", "technical-metadata"} and t.terminal is None
    t = succeed(t, "technical-metadata", 2)
    assert requested(t) == {"print-analysis"}
    t = succeed(t, "thumbnails", 3)
    assert requested(t) == {"listing"}
    t = succeed(t, "print-analysis", 4)
    assert t.terminal is None
    t = succeed(t, "listing", 5)
    assert t.terminal == wf.COMPLETED and t.state.degraded == [] and t.state.finished_at == 5


def test_optional_failure_completes_degraded_with_the_reason_and_skips_dependants():
    t = succeed(started(), "download", 1)
    t = fail(t, "thumbnails", 2, code="render_failed")
    assert t.terminal is None and t.state.steps["listing"].status == wf.SKIPPED
    t = succeed(t, "technical-metadata", 3)
    t = succeed(t, "print-analysis", 4)
    assert t.terminal == wf.COMPLETED
    assert t.state.degraded == [{"stage": "thumbnails", "code": "render_failed", "message": "render_failed", "attempts": 1}]


def test_blocking_failure_ends_the_run_once_and_late_outcomes_change_nothing():
    t = succeed(started(), "download", 1)
    t = fail(t, "technical-metadata", 2)
    assert t.terminal == wf.FAILED and t.state.failed_stage == "technical-metadata"
    assert t.state.error["code"] == "corrupt_mesh"
    assert {k: v.status for k, v in t.state.steps.items() if k not in ("download", "technical-metadata")} == \
        {k: wf.SKIPPED for k in t.state.steps if k not in ("download", "technical-metadata")}
    for late in (succeed(t, "thumbnails", 3), fail(t, "thumbnails", 3), wf.apply(FLOW, t.state, wf.Tick(), 10**9)):
        assert late.effects == () and late.state is t.state


def test_redelivered_outcome_is_a_no_op():
    t = succeed(started(), "download", 1)
    again = succeed(t, "download", 2)
    assert again.effects == () and again.state.steps == t.state.steps


def test_apply_does_not_modify_its_input():
    t = started()
    before = copy.deepcopy(t.state)
    succeed(t, "download", 1)
    fail(t, "download", 1, retryable=True)
    wf.apply(FLOW, t.state, wf.Tick(), 10**9)
    assert t.state == before


# -- retries with backoff, timeouts ------------------------------------------------------------

def test_retryable_failures_wait_with_exponential_backoff_and_jitter():
    t = started(0)
    t = fail(t, "download", 0, code="storage_unavailable", retryable=True)
    st = t.state.steps["download"]
    assert st.status == wf.RETRY_WAIT and t.requests == ()
    assert 900 <= st.due_at <= 1100  # 1 s +/- 10 %
    assert wf.apply(FLOW, t.state, wf.Tick(), st.due_at - 1).effects == ()  # not yet
    t = wf.apply(FLOW, t.state, wf.Tick(), st.due_at)
    assert [(r.stage, r.attempt) for r in t.requests] == [("download", 2)]
    t = fail(t, "download", 1000, code="storage_unavailable", retryable=True)
    assert 1000 + 1800 <= t.state.steps["download"].due_at <= 1000 + 2200  # 2 s +/- 10 %
    t = wf.apply(FLOW, t.state, wf.Tick(), 5000)
    t = fail(t, "download", 5000, code="storage_unavailable", retryable=True)
    # third attempt was the last (max_attempts 3): the blocking step fails the run, with the true count
    assert t.terminal == wf.FAILED and t.state.steps["download"].attempts == 3


def test_backoff_is_capped_and_jitter_is_deterministic():
    policy = RetryPolicy(initial_seconds=1, max_seconds=8, multiplier=2, jitter=0.1)
    assert [policy.delay_seconds(n) for n in range(1, 7)] == [1, 2, 4, 8, 8, 8]
    assert policy.delay_seconds(1, 1.0) == pytest.approx(1.1) and policy.delay_seconds(1, -1.0) == pytest.approx(0.9)
    a = fail(started(), "download", 0, retryable=True).state.steps["download"].due_at
    b = fail(started(), "download", 0, retryable=True).state.steps["download"].due_at
    other = wf.start(FLOWS, {**MODEL, "run_id": "r2"}, 0)
    c = wf.apply(FLOW, other.state, wf.StepFailed("download", {"code": "x", "retryable": True}), 0).state.steps["download"].due_at
    assert a == b and a != c  # same run and attempt: same delay; another run: spread apart


def test_deterministic_failure_is_never_retried():
    t = fail(started(), "download", 0, code="corrupt_mesh", retryable=False)
    assert t.terminal == wf.FAILED and t.state.steps["download"].attempts == 1


def begin(t, stage, now, attempt=1, beat=0):
    return wf.apply(FLOW, t.state, wf.StepStarted(stage, wf.request_id("r", stage, attempt), beat), now)


def test_a_failure_of_an_earlier_attempt_is_ignored_but_its_success_is_taken():
    t = begin(started(0), "download", 0)
    t = wf.apply(FLOW, t.state, wf.Tick(), 60_001)  # ran past its 60 s: attempt 2 requested
    assert [(r.stage, r.attempt) for r in t.requests] == [("download", 2)]
    stale = wf.request_id("r", "download", 1)
    assert fail(t, "download", 60_002, cause=stale).effects == ()
    assert requested(succeed(t, "download", 60_002, cause=stale)) == {"thumbnails", "technical-metadata"}


def test_timeouts_request_again_then_fail_with_code_timeout():
    t = started(0)
    for attempt in (2, 3):
        t = wf.apply(FLOW, t.state, wf.Tick(), t.state.steps["download"].due_at)
        assert [(r.stage, r.attempt) for r in t.requests] == [("download", attempt)]
    t = wf.apply(FLOW, t.state, wf.Tick(), t.state.steps["download"].due_at)
    assert t.terminal == wf.FAILED and t.state.error["code"] == "timeout"


def test_timeout_cap_shortens_every_execution_timeout_and_not_the_queue_timeout():
    t = wf.start(FLOWS, MODEL, 0, timeout_cap=5)
    assert t.state.steps["download"].due_at == 3_600_000
    t = wf.apply(FLOW, t.state, wf.StepStarted("download", wf.request_id("r", "download", 1)), 100, timeout_cap=5)
    assert t.state.steps["download"].due_at == 5_100
    assert wf.start(FLOWS, MODEL, 0, queue_cap=7).state.steps["download"].due_at == 7_000


# -- timeouts measure work: queue, execution, heartbeat ------------------------------------------

def test_time_in_the_queue_is_not_a_stage_timeout():
    """A request that waits behind a backlog longer than the step's timeout is not asked again."""
    t = started(0)
    t = wf.apply(FLOW, t.state, wf.Tick(), 600_000)  # ten step timeouts later, still queued
    assert t.requests == () and t.state.steps["download"].attempts == 1
    t = begin(t, "download", 600_000)
    assert t.state.steps["download"].due_at == 630_000  # the heartbeat window (30 s), within 60 s
    t = succeed(t, "download", 601_000)
    assert requested(t) == {"thumbnails", "technical-metadata"}


def test_heartbeats_keep_a_long_step_alive_until_its_execution_timeout():
    t = begin(started(0), "download", 1_000)
    for n, at in enumerate(range(21_000, 61_000, 20_000), start=1):
        t = begin(t, "download", at, beat=n)
        assert t.state.steps["download"].due_at == min(at + 30_000, 61_000)
        assert wf.apply(FLOW, t.state, wf.Tick(), at + 1).requests == ()
    t = wf.apply(FLOW, t.state, wf.Tick(), 61_000)
    assert [(r.stage, r.attempt) for r in t.requests] == [("download", 2)]


def test_a_step_whose_heartbeats_stop_is_requested_again_within_the_heartbeat_window():
    t = begin(started(0), "download", 1_000)
    t = begin(t, "download", 6_000, beat=1)  # then the worker is killed
    assert wf.apply(FLOW, t.state, wf.Tick(), 35_999).requests == ()
    again = wf.apply(FLOW, t.state, wf.Tick(), 36_000)
    assert [(r.stage, r.attempt) for r in again.requests] == [("download", 2)]
    assert again.state.steps["download"].started_at is None  # the new attempt is queued again


def test_a_beat_of_an_earlier_attempt_changes_nothing():
    t = begin(started(0), "download", 1_000)
    t = wf.apply(FLOW, t.state, wf.Tick(), 31_000)  # lost: attempt 2
    stale = begin(t, "download", 32_000, attempt=1, beat=5)
    assert stale.state.steps["download"].started_at is None and stale.effects == ()


def test_the_last_timeout_names_the_clock_that_ran_out():
    queued = started(0)
    for _ in range(2):  # max_attempts 3: attempts 2 and 3 after two queue timeouts
        queued = wf.apply(FLOW, queued.state, wf.Tick(), queued.state.steps["download"].due_at)
    t = wf.apply(FLOW, queued.state, wf.Tick(), queued.state.steps["download"].due_at)
    assert t.terminal == wf.FAILED and "not started within 3600 s" in t.state.error["message"]
    t = begin(queued, "download", queued.state.steps["download"].requested_at + 5, attempt=3)
    t = wf.apply(FLOW, t.state, wf.Tick(), t.state.steps["download"].due_at)
    assert t.terminal == wf.FAILED and "no heartbeat for 30 s" in t.state.error["message"]


# -- admission control: ready steps wait in the run table ------------------------------------------

def test_held_steps_wait_until_admitted():
    t = wf.start(FLOWS, MODEL, 0, hold=True)
    assert t.requests == () and wf.waiting_stages(t.state) == ["download"]
    t = wf.admit(FLOW, t.state, "download", 5)
    assert [(r.stage, r.attempt) for r in t.requests] == [("download", 1)]
    assert wf.in_flight_stages(t.state) == ["download"] and wf.waiting_stages(t.state) == []
    t = wf.apply(FLOW, t.state, wf.StepSucceeded("download", OK, "1.0"), 6, hold=True)
    assert t.requests == () and sorted(wf.waiting_stages(t.state)) == ["technical-metadata", "thumbnails"]
    assert wf.admit(FLOW, t.state, "download", 7).effects == ()  # not waiting: nothing to admit


def test_next_check_is_the_earliest_due_time():
    t = fail(started(0), "download", 0, retryable=True)
    assert wf.next_check(t.state) == t.state.steps["download"].due_at
    done = fail(started(0), "download", 0)
    assert wf.next_check(done.state) is None


# -- refusal, state versions -------------------------------------------------------------------

@pytest.mark.parametrize("name,message", [("later", "planned"), ("nope", "unknown workflow")])
def test_unknown_and_planned_workflows_fail_the_run_at_once(name, message):
    t = wf.start(FLOWS, {**MODEL, "workflow": name}, 0)
    assert t.terminal == wf.FAILED and t.requests == ()
    assert t.state.error["code"] == "unknown_workflow" and message in t.state.error["message"]


def test_state_round_trips_through_json_and_reads_version_1():
    import json

    t = fail(succeed(started(), "download", 1), "thumbnails", 2, retryable=True)
    assert wf.RunState.from_dict(json.loads(json.dumps(t.state.to_dict()))) == t.state
    v1 = {"run_id": "r", "model_id": "m", "scan_id": "s", "name": "n", "folder": "", "files": [], "owner_id": None,
          "workflow": "t", "started_at": 0, "partition": 1, "terminal": None,
          "steps": {"download": {"status": "requested", "attempts": 1, "requested_at": 5, "processor_version": None,
                                 "result": None, "error": None}}}
    state = wf.RunState.from_dict(v1)
    assert state.v == wf.STATE_VERSION and state.steps["download"].requested_at == 5 and state.degraded == []


# -- definitions and validation ----------------------------------------------------------------

def _flow(steps):
    return parse_workflows({"workflows": {"x": {"steps": steps}}})


@pytest.mark.parametrize("name", sorted(wf.default_workflows()))
def test_in_order_puts_every_step_after_the_steps_it_needs(name):
    flow = wf.default_workflows()[name]
    order = [step.stage for step in flow.in_order()]
    assert sorted(order) == sorted(flow.stages)
    for position, stage in enumerate(order):
        assert set(flow.step(stage).needs) <= set(order[:position]), (stage, order)


def test_in_order_follows_needs_not_the_listed_order():
    flow = _flow([{"stage": "c", "needs": ["b"]}, {"stage": "b", "needs": ["a"]}, {"stage": "a"}])["x"]
    assert [step.stage for step in flow.in_order()] == ["a", "b", "c"]


def test_cycles_are_refused_with_the_steps_named():
    with pytest.raises(wf.WorkflowError, match=r"cycle between steps \['a', 'b'\]"):
        _flow([{"stage": "a", "needs": ["b"]}, {"stage": "b", "needs": ["a"]}, {"stage": "c"}])


def test_steps_behind_a_cycle_are_unreachable():
    flow = wf.Workflow("x", "active", "", (wf.Step("a", ("b",)), wf.Step("b", ("a",)), wf.Step("c", ("a",))))
    problems = structure_problems(flow)
    assert any("cycle between steps ['a', 'b']" in p for p in problems)
    assert any("['c'] can never start" in p for p in problems)


@pytest.mark.parametrize("steps,message", [
    ([{"stage": "a", "needs": ["b"]}], "unknown stages"),
    ([{"stage": "a"}, {"stage": "a"}], "appears twice"),
    ([{"stage": "a", "needs": ["a"]}], "needs itself"),
    ([{"stage": "a", "blocking": False}, {"stage": "b", "needs": ["a"]}], "needs optional steps"),
    ([{"stage": "a", "retries": 3}], "unknown keys"),
    ([], "has no steps"),
])
def test_structural_problems_are_refused(steps, message):
    with pytest.raises(wf.WorkflowError, match=message):
        _flow(steps)


def test_missing_contracts_are_reported_against_the_manifest():
    flows = parse_workflows({"workflows": {"x": {"steps": [{"stage": "teleport"}]},
                                           "y": {"steps": [{"stage": "slicing"}]}}})
    shipped = default_manifest()
    # a manifest in which slicing is still planned (as it was before issue 23)
    manifest = dataclasses.replace(shipped, contracts=tuple(
        dataclasses.replace(c, status="planned") if c.stage == "slicing" else c for c in shipped.contracts))
    problems = contract_problems(flows, manifest)
    assert "workflow x: stage teleport has no contract teleport.requested" in problems
    assert "workflow y is active but contract slicing.requested is planned" in problems


def test_the_shipped_workflows_are_valid_and_include_the_seed_variants():
    assert validate_workflows(WORKFLOWS_PATH, default_manifest()) == []
    flows = wf.default_workflows()
    assert {"minimal", "standard", "complete", "folder-aware", "marketplace-listing", "print-ready"} <= set(flows)
    assert flows["print-ready"].active and flows["folder-aware"].context["collection"] == "folder"


def test_a_cyclic_workflows_file_fails_validation(tmp_path: Path):
    doc = yaml.safe_load(WORKFLOWS_PATH.read_text())
    doc["workflows"]["standard"]["steps"][0]["needs"] = ["technical-metadata"]
    path = tmp_path / "workflows.yaml"
    path.write_text(yaml.safe_dump(doc))
    (problem,) = validate_workflows(path, default_manifest())
    assert "workflow standard: cycle between steps ['download', 'technical-metadata']" in problem


def test_the_scan_contract_defaults_to_the_default_workflow():
    """A scan published without a workflow (by any client) runs the same workflow the CLI and
    Publisher choose: the Avro default and workflows.yaml's `default` must agree."""
    assert default_manifest().by_name("discovery-scan.requested").payload_default("workflow") == wf.default_workflow_name()
    assert wf.runnable(wf.default_workflow_name()).status == "active"
