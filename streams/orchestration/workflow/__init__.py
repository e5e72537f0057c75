"""Workflows at run time: the definitions (registry.workflows), the typed run state and the pure
state machine that owns every run transition. The orchestrator agent only interprets effects."""
from __future__ import annotations

from registry.workflows import (
    RetryPolicy, Step, Workflow, WorkflowError, Workflows, default_workflows, load_workflows, parse_workflows,
)
from streams.orchestration.workflow.machine import (
    EmitTerminal, RequestStep, ScheduleCheck, StepFailed, StepStarted, StepSucceeded, Tick, Transition, admit, apply,
    in_flight_stages, next_check, queued_stages, request_id, start, waiting_stages,
)
from streams.orchestration.workflow.state import (
    COMPLETED, DONE, FAILED, PENDING, REQUESTED, RETRY_WAIT, SKIPPED, STATE_VERSION, WAITING, RunState, StepState,
)


def default_workflow_name() -> str:
    """The workflow a scan runs when its publisher names none (`default:` in workflows.yaml)."""
    return default_workflows().default


def runnable(name: str, flows: Workflows | None = None) -> Workflow:
    """The workflow to run, refusing unknown and planned ones (WorkflowError)."""
    return (flows or default_workflows()).runnable(name)


__all__ = [
    "COMPLETED", "DONE", "FAILED", "PENDING", "REQUESTED", "RETRY_WAIT", "SKIPPED", "STATE_VERSION", "WAITING",
    "EmitTerminal", "RequestStep", "RetryPolicy", "RunState", "ScheduleCheck", "Step", "StepFailed", "StepStarted",
    "StepState", "StepSucceeded", "Tick", "Transition", "Workflow", "WorkflowError", "Workflows", "admit", "apply",
    "default_workflow_name", "default_workflows", "in_flight_stages", "load_workflows", "next_check", "queued_stages",
    "parse_workflows", "request_id", "runnable", "start", "waiting_stages",
]
