"""Property tests of the run state machine over random event orders, duplicates and delays.

Whatever stage outcomes arrive (in any order, repeated, late, from stale attempts) and however
time passes, for every shipped active workflow:
* at most one terminal effect, and once the run is terminal, no effect at all;
* no step is requested more often than its max_attempts, and attempt numbers only grow by one;
* a completed run has every step done, blocking ones completed, and its degraded list names
  exactly the failed optional steps;
* a run that is driven to the end (every request answered, time passing) always terminates.
"""
from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from streams.orchestration import workflow as wf

FLOWS = wf.default_workflows()
ACTIVE = sorted(name for name, f in FLOWS.items() if f.active)
CODES = [("corrupt_mesh", False), ("storage_unavailable", True), ("worker_lost", True), ("render_failed", False)]


def model(flow: str) -> dict:
    return {"run_id": f"run-{flow}", "model_id": "m", "scan_id": "s", "workflow": flow, "name": "n",
            "folder": "", "files": [], "owner_id": None}


event_strategy = st.one_of(
    st.tuples(st.just("ok"), st.integers(0, 7), st.booleans()),
    st.tuples(st.just("fail"), st.integers(0, 7), st.sampled_from(CODES)),
    st.tuples(st.just("tick"), st.integers(0, 400_000), st.just(None)),
)


def check_effects(flow, state_before, transition, terminals: list, attempts: dict) -> None:
    if state_before.finished:
        assert transition.effects == ()
    for effect in transition.effects:
        if isinstance(effect, wf.EmitTerminal):
            terminals.append(effect.outcome)
        if isinstance(effect, wf.RequestStep):
            assert not terminals, "a step requested after the terminal effect"
            assert effect.attempt == attempts.get(effect.stage, 0) + 1
            assert effect.attempt <= flow.step(effect.stage).max_attempts
            attempts[effect.stage] = effect.attempt
    assert len(terminals) <= 1


def check_terminal(flow, state) -> None:
    if state.terminal == wf.COMPLETED:
        assert all(s.done for s in state.steps.values())
        assert all(state.steps[s.stage].status == wf.COMPLETED for s in flow.steps if s.blocking)
        assert [d["stage"] for d in state.degraded] == [s.stage for s in flow.steps if state.steps[s.stage].status == wf.FAILED]
    elif state.terminal == wf.FAILED:
        assert flow.step(state.failed_stage).blocking and state.steps[state.failed_stage].status == wf.FAILED
        # every step ended: what will never run (or no longer counts) is skipped, never "requested" forever
        assert all(s.done for s in state.steps.values())


@settings(max_examples=300, deadline=None)
@given(flow_name=st.sampled_from(ACTIVE), events=st.lists(event_strategy, max_size=60),
       stale_causes=st.booleans())
def test_random_event_orders_duplicates_and_delays(flow_name, events, stale_causes):
    flow = FLOWS[flow_name]
    t = wf.start(FLOWS, model(flow_name), 0)
    terminals: list = []
    attempts: dict = {}
    check_effects(flow, wf.RunState.from_discovered(model(flow_name), 0), t, terminals, attempts)
    now = 0
    for kind, arg, extra in events:
        before = t.state
        if kind == "tick":
            now += arg
            event = wf.Tick()
        else:
            stage = flow.stages[arg % len(flow.stages)]
            cause = wf.request_id(before.run_id, stage, 1) if stale_causes else None
            if kind == "ok":
                event = wf.StepSucceeded(stage, {"files": []}, "v", cause)
            else:
                code, retryable = extra
                event = wf.StepFailed(stage, {"code": code, "message": code, "retryable": retryable}, cause)
        t = wf.apply(flow, before, event, now)
        check_effects(flow, before, t, terminals, attempts)
        if t.state.finished:
            check_terminal(flow, t.state)
    assert (t.state.terminal is not None) == bool(terminals)


@settings(max_examples=200, deadline=None)
@given(flow_name=st.sampled_from(ACTIVE), outcomes=st.lists(st.sampled_from(["ok", "ok", "retry", "fail", "lost"]),
                                                             min_size=1, max_size=40))
def test_a_run_driven_to_the_end_always_terminates_exactly_once(flow_name, outcomes):
    """Every request gets an answer (or is lost and times out), time passes: the run ends."""
    flow = FLOWS[flow_name]
    t = wf.start(FLOWS, model(flow_name), 0)
    terminals, attempts, now = [], {}, 0
    check_effects(flow, wf.RunState.from_discovered(model(flow_name), 0), t, terminals, attempts)
    pending = list(t.requests)
    i = 0
    for _ in range(500):
        if t.state.finished:
            break
        if pending:
            req = pending.pop(0)
            kind = outcomes[i % len(outcomes)]
            i += 1
            if kind == "lost":
                continue
            event = (wf.StepSucceeded(req.stage, {"files": []}, "v", req.request_id) if kind == "ok" else
                     wf.StepFailed(req.stage, {"code": "x", "message": "x", "retryable": kind == "retry"}, req.request_id))
        else:
            now = wf.next_check(t.state)
            assert now is not None, "a live run with nothing in flight and nothing scheduled is stranded"
            event = wf.Tick()
        before = t.state
        t = wf.apply(flow, before, event, now)
        check_effects(flow, before, t, terminals, attempts)
        pending += list(t.requests)
    assert t.state.finished and len(terminals) == 1
    check_terminal(flow, t.state)
