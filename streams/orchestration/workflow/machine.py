"""The workflow run state machine: (state, event, now) -> (state, effects), and nothing else.

Every run transition lives here: start (and refusal of unknown or planned workflows), a step's
success, a retryable failure (backoff), a deterministic failure, a timeout (request again, then
fail), degradation (an optional step failed), and the terminal outcome. The function never
touches Kafka, a clock or a random source: it is given `now` and returns effects that the
orchestrator agent interprets (send a request, emit the terminal event, wake me at T). That
makes every transition testable without servers, and replay-safe: applying the same event twice
is a no-op because the first application already moved the step past the state it accepts.

Invariants (tests/unit/test_workflow_properties.py checks them over random event orders,
duplicates and delays): at most one EmitTerminal per run; no request after the terminal; a
step is never requested more than its max_attempts; a terminal run has every step done or was
ended by a blocking failure.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Mapping, Union

from registry.workflows import Workflow, Workflows, WorkflowError
from streams.core.envelope import derived_id
from streams.core.policy import TIMEOUT, spread
from streams.orchestration.workflow.state import (
    COMPLETED, DONE, FAILED, PENDING, REQUESTED, RETRY_WAIT, SKIPPED, WAITING, RunState, StepState,
)

ORCHESTRATOR = "orchestrator"


# -- events (what happened) -------------------------------------------------------------------

@dataclass(frozen=True)
class StepSucceeded:
    stage: str
    result: Mapping[str, Any]
    processor_version: str | None = None
    cause: str | None = None       # the request's event id the result answers


@dataclass(frozen=True)
class StepFailed:
    stage: str
    error: Mapping[str, Any]       # ErrorInfo: code, error_class, message, retryable
    cause: str | None = None


@dataclass(frozen=True)
class StepStarted:
    """A stage took the request `request_id` (beat 0) or is still working on it (beat > 0)."""
    stage: str
    request_id: str
    beat: int = 0


@dataclass(frozen=True)
class Tick:
    """Time passed: due retries are requested, overdue steps time out."""


Event = Union[StepSucceeded, StepFailed, StepStarted, Tick]


# -- effects (what the orchestrator must do) --------------------------------------------------

@dataclass(frozen=True)
class RequestStep:
    stage: str
    attempt: int
    request_id: str


@dataclass(frozen=True)
class EmitTerminal:
    outcome: str                   # completed | failed (a completed run may be degraded)


@dataclass(frozen=True)
class ScheduleCheck:
    at: int                        # ms: apply Tick to this run no earlier than this


Effect = Union[RequestStep, EmitTerminal, ScheduleCheck]


@dataclass(frozen=True)
class Transition:
    state: RunState
    effects: tuple[Effect, ...] = ()

    @property
    def requests(self) -> tuple[RequestStep, ...]:
        return tuple(e for e in self.effects if isinstance(e, RequestStep))

    @property
    def terminal(self) -> str | None:
        return next((e.outcome for e in self.effects if isinstance(e, EmitTerminal)), None)


# -- transitions -------------------------------------------------------------------------------

def start(flows: Workflows, model: Mapping[str, Any], now: int, *, cause: str | None = None,
          partition: int | None = None, timeout_cap: float | None = None, hold: bool = False,
          queue_cap: float | None = None) -> Transition:
    """A run for a discovered model: its root steps requested (or, with `hold`, left `waiting`
    for `admit`), or, for a workflow that cannot run (unknown, planned), a run that is failed
    from the start with the reason."""
    state = RunState.from_discovered(dict(model), now, cause, partition)
    try:
        flow = flows.runnable(state.workflow)
    except WorkflowError as exc:
        state.terminal, state.finished_at, state.failed_stage = FAILED, now, ORCHESTRATOR
        state.error = {"code": exc.code, "error_class": type(exc).__name__, "message": str(exc), "retryable": False}
        return Transition(state, (EmitTerminal(FAILED),))
    state.steps = {s.stage: StepState() for s in flow.steps}
    effects: list[Effect] = []
    _advance(flow, state, now, effects, _Limits(timeout_cap, hold, queue_cap))
    return Transition(state, tuple(effects))


def apply(flow: Workflow, state: RunState, event: Event, now: int, *, timeout_cap: float | None = None,
          hold: bool = False, queue_cap: float | None = None) -> Transition:
    """The run after `event`, and what must happen because of it. `state` is not modified.
    With `hold`, steps that become ready wait for `admit` instead of being requested."""
    if state.finished:
        return Transition(state)
    state = _clone(state)
    effects: list[Effect] = []
    limits = _Limits(timeout_cap, hold, queue_cap)
    if isinstance(event, StepSucceeded):
        _succeeded(flow, state, event, now, effects, limits)
    elif isinstance(event, StepFailed):
        _failed(flow, state, event, now, effects, limits)
    elif isinstance(event, StepStarted):
        _started(flow, state, event, now, effects, limits)
    elif isinstance(event, Tick):
        _tick(flow, state, now, effects, limits)
    else:  # pragma: no cover - a programming error, not an input
        raise TypeError(f"not a workflow event: {event!r}")
    return Transition(state, tuple(effects))


def admit(flow: Workflow, state: RunState, stage: str, now: int, *, timeout_cap: float | None = None,
          queue_cap: float | None = None) -> Transition:
    """Let a waiting step's request out (admission control decided there is room for it)."""
    if state.finished or state.steps.get(stage) is None or state.steps[stage].status != WAITING:
        return Transition(state)
    state = _clone(state)
    effects: list[Effect] = []
    _request(state, flow.step(stage), now, effects, _Limits(timeout_cap, True, queue_cap))
    return Transition(state, tuple(effects))


def waiting_stages(state: RunState) -> list[str]:
    """The run's steps held for admission."""
    return [stage for stage, st in state.steps.items() if st.status == WAITING] if not state.finished else []


def in_flight_stages(state: RunState) -> list[str]:
    """The run's steps whose request is out (sent, not answered)."""
    return [stage for stage, st in state.steps.items() if st.status == REQUESTED] if not state.finished else []


def queued_stages(state: RunState) -> list[str]:
    """The run's steps whose request is out but not started yet (no beat 0): waiting in a stage's
    topic or for a free pool process."""
    return [stage for stage, st in state.steps.items()
            if st.status == REQUESTED and st.started_at is None] if not state.finished else []


def next_check(state: RunState) -> int | None:
    """When this run next needs a Tick (a retry due or a step's timeout), or None."""
    if state.finished:
        return None
    due = [st.due_at for st in state.steps.values() if st.status in (REQUESTED, RETRY_WAIT) and st.due_at is not None]
    return min(due) if due else None


def request_id(run_id: str, stage: str, attempt: int) -> str:
    """The event id of a step's request: the same attempt always has the same id, so a request
    re-sent after a crash is recognisably the same event downstream."""
    return derived_id(ORCHESTRATOR, run_id, stage, str(attempt))


# -- internals ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Limits:
    cap: float | None = None        # MESHSTREAM_STEP_TIMEOUT_CAP: caps execution timeouts
    hold: bool = False              # ready steps wait for admission instead of being requested
    queue_cap: float | None = None  # MESHSTREAM_QUEUE_TIMEOUT_CAP: caps queue timeouts


def _clone(state: RunState) -> RunState:
    # results and errors are never mutated in place, so sharing them is safe
    return replace(state, steps={k: replace(v) for k, v in state.steps.items()},
                   degraded=list(state.degraded), options=dict(state.options))


def _succeeded(flow, state, event: StepSucceeded, now, effects, limits) -> None:
    st = state.steps.get(event.stage)
    # a success is accepted from any attempt (its result is as good), even while a retry waits
    if st is None or st.status not in (REQUESTED, RETRY_WAIT):
        return
    st.status, st.result, st.error = COMPLETED, dict(event.result), None
    st.processor_version, st.finished_at, st.due_at = event.processor_version, now, None
    _advance(flow, state, now, effects, limits)


def _failed(flow, state, event: StepFailed, now, effects, limits) -> None:
    st = state.steps.get(event.stage)
    if st is None or st.status != REQUESTED:
        return
    if event.cause is not None and st.request_id is not None and event.cause != st.request_id:
        return  # the failure of an earlier attempt; the current one is still out
    step = flow.step(event.stage)
    error = dict(event.error)
    if error.get("retryable") and st.attempts < step.max_attempts:
        st.status, st.error = RETRY_WAIT, error
        delay = step.retry.delay_seconds(st.attempts, spread(state.run_id, event.stage, str(st.attempts)))
        st.due_at = now + int(delay * 1000)
        effects.append(ScheduleCheck(st.due_at))
        return
    _fail_step(st, error, now)
    _advance(flow, state, now, effects, limits)


def _started(flow, state, event: StepStarted, now, effects, limits) -> None:
    """The stage has the current request: from now on the step's clock measures work (its
    execution timeout from the first beat, the heartbeat timeout from the latest), not queueing."""
    st = state.steps.get(event.stage)
    if st is None or st.status != REQUESTED or event.request_id != st.request_id:
        return  # an earlier attempt's beat, or a step already answered
    step = flow.step(event.stage)
    if st.started_at is None:
        st.started_at = now
    st.beat_at = now
    st.due_at = min(now + int(step.heartbeat_timeout_seconds * 1000),
                    st.started_at + int(_timeout_seconds(step, limits.cap) * 1000))
    effects.append(ScheduleCheck(st.due_at))


def _tick(flow, state, now, effects, limits) -> None:
    changed = False
    for step in flow.steps:
        st = state.steps[step.stage]
        if st.due_at is None or st.due_at > now:
            continue
        if st.status == RETRY_WAIT:
            _request(state, step, now, effects, limits)
        elif st.status == REQUESTED:
            why = _overdue(step, st, limits)
            if st.attempts < step.max_attempts:
                _request(state, step, now, effects, limits)  # lost or stuck: ask again at once
            else:
                _fail_step(st, {"code": TIMEOUT, "error_class": "StepTimeout", "retryable": False,
                                "message": f"{step.stage}: {why} ({st.attempts} attempts)"}, now)
                changed = True
    if changed:
        _advance(flow, state, now, effects, limits)


def _overdue(step, st: StepState, limits: _Limits) -> str:
    """Which of the step's clocks ran out, in words."""
    if st.started_at is None:
        return f"not started within {_queue_timeout_seconds(step, limits.queue_cap):g} s of its request (queue timeout)"
    if (st.due_at or 0) < st.started_at + int(_timeout_seconds(step, limits.cap) * 1000):
        return f"no heartbeat for {step.heartbeat_timeout_seconds:g} s (the worker was lost)"
    return f"did not finish within {_timeout_seconds(step, limits.cap):g} s of starting (execution timeout)"


def _fail_step(st: StepState, error: dict, now: int) -> None:
    st.status, st.error, st.finished_at, st.due_at = FAILED, error, now, None


def _timeout_seconds(step, cap: float | None) -> float:
    return step.timeout_seconds if cap is None else min(step.timeout_seconds, cap)


def _queue_timeout_seconds(step, cap: float | None) -> float:
    return step.queue_timeout_seconds if cap is None else min(step.queue_timeout_seconds, cap)


def _request(state: RunState, step, now: int, effects: list, limits) -> None:
    st = state.steps[step.stage]
    st.attempts += 1
    st.status, st.requested_at, st.started_at, st.beat_at = REQUESTED, now, None, None
    st.due_at = now + int(_queue_timeout_seconds(step, limits.queue_cap) * 1000)
    st.request_id = request_id(state.run_id, step.stage, st.attempts)
    effects.append(RequestStep(step.stage, st.attempts, st.request_id))
    effects.append(ScheduleCheck(st.due_at))


def _advance(flow: Workflow, state: RunState, now: int, effects: list, limits) -> None:
    """After any step change: end the run on a blocking failure, skip what can no longer run,
    request what became ready, and complete the run when every step is done."""
    steps = state.steps
    for step in flow.steps:
        st = steps[step.stage]
        if st.status == FAILED and step.blocking:
            state.terminal, state.finished_at = FAILED, now
            state.failed_stage, state.error = step.stage, st.error
            for other in steps.values():  # never run (or their outcome no longer counts): skipped
                if other.status not in DONE:
                    other.status, other.finished_at, other.due_at = SKIPPED, now, None
            effects.append(EmitTerminal(FAILED))
            return
    changed = True
    while changed:  # a failed or skipped need makes its dependants unreachable, transitively
        changed = False
        for step in flow.steps:
            st = steps[step.stage]
            if st.status == PENDING and any(steps[n].status in (FAILED, SKIPPED) for n in step.needs):
                st.status, st.finished_at = SKIPPED, now
                changed = True
    for step in flow.steps:
        if steps[step.stage].status == PENDING and all(steps[n].status == COMPLETED for n in step.needs):
            if limits.hold:
                steps[step.stage].status = WAITING  # admission control lets it out (admit)
            else:
                _request(state, step, now, effects, limits)
    if all(st.status in DONE for st in steps.values()):
        state.terminal, state.finished_at = COMPLETED, now
        state.degraded = [{"stage": s.stage, "code": (steps[s.stage].error or {}).get("code", "failed"),
                           "message": (steps[s.stage].error or {}).get("message", ""),
                           "attempts": steps[s.stage].attempts}
                          for s in flow.steps if steps[s.stage].status == FAILED]
        effects.append(EmitTerminal(COMPLETED))

