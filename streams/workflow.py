"""The workflow state machine: pure functions over a JSON-able run state.

The orchestrator agent stores each run's state in a changelog-backed Faust table and calls these
functions; keeping them free of Faust makes every transition unit-testable and replay-safe (the
same input applied twice is a no-op, which is what makes redelivery harmless).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from schemas import SCHEMAS_DIR

PENDING, REQUESTED, COMPLETED, FAILED, SKIPPED = "pending", "requested", "completed", "failed", "skipped"
DONE = (COMPLETED, FAILED, SKIPPED)


class WorkflowError(ValueError):
    """An unknown or planned workflow, or an invalid definition."""

    code = "unknown_workflow"
    retryable = False


@dataclass(frozen=True)
class Step:
    stage: str
    needs: tuple[str, ...] = ()
    blocking: bool = True
    timeout_seconds: int = 300
    max_attempts: int = 3


@dataclass(frozen=True)
class Workflow:
    name: str
    status: str
    description: str
    steps: tuple[Step, ...] = field(default_factory=tuple)

    def step(self, stage: str) -> Step:
        for s in self.steps:
            if s.stage == stage:
                return s
        raise KeyError(f"workflow {self.name} has no stage {stage}")


def load_workflows(path: Path = SCHEMAS_DIR / "workflows.yaml") -> dict[str, Workflow]:
    doc = yaml.safe_load(Path(path).read_text())
    flows = {}
    for name, spec in doc["workflows"].items():
        steps = tuple(Step(stage=s["stage"], needs=tuple(s.get("needs", ())), blocking=s.get("blocking", True),
                           timeout_seconds=int(s.get("timeout_seconds", 300)),
                           max_attempts=int(s.get("max_attempts", 3)))
                      for s in spec["steps"])
        stages = [s.stage for s in steps]
        if len(set(stages)) != len(stages):
            raise WorkflowError(f"workflow {name}: a stage appears twice")
        for s in steps:
            unknown = set(s.needs) - set(stages)
            if unknown:
                raise WorkflowError(f"workflow {name}: step {s.stage} needs unknown stages {sorted(unknown)}")
        flows[name] = Workflow(name, spec.get("status", "active"), spec.get("description", ""), steps)
    return flows


@lru_cache(maxsize=1)
def default_workflows() -> dict[str, Workflow]:
    return load_workflows()


def default_workflow_name(path: Path = SCHEMAS_DIR / "workflows.yaml") -> str:
    """The workflow a scan runs when its publisher names none (`default:` in workflows.yaml)."""
    return yaml.safe_load(Path(path).read_text())["default"]


def runnable(name: str, flows: dict[str, Workflow] | None = None) -> Workflow:
    """The workflow to run, refusing unknown and planned ones."""
    flows = flows or default_workflows()
    if name not in flows:
        raise WorkflowError(f"unknown workflow {name!r}; known: {sorted(flows)}")
    flow = flows[name]
    if flow.status != "active":
        raise WorkflowError(f"workflow {name!r} is {flow.status}; the orchestrator only runs active workflows")
    return flow


# -- transitions ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Decision:
    """What the orchestrator must do after a transition: stages to request, maybe a terminal."""

    requests: tuple[str, ...] = ()
    terminal: str | None = None          # "completed" or "failed"
    failed_stage: str | None = None
    error: dict[str, Any] | None = None


def new_run(flow: Workflow, model: dict[str, Any], now_ms: int) -> dict[str, Any]:
    return {
        **model,
        "workflow": flow.name,
        "started_at": now_ms,
        "steps": {s.stage: {"status": PENDING, "attempts": 0, "requested_at": None,
                            "processor_version": None, "result": None, "error": None}
                  for s in flow.steps},
        "terminal": None,
    }


def _ready(flow: Workflow, run: dict) -> list[str]:
    steps = run["steps"]
    out = []
    for s in flow.steps:
        if steps[s.stage]["status"] != PENDING:
            continue
        if all(steps[n]["status"] == COMPLETED for n in s.needs):
            out.append(s.stage)
    return out


def _skip_unreachable(flow: Workflow, run: dict) -> None:
    """A step whose dependency failed or was skipped can never run: mark it skipped."""
    changed = True
    while changed:
        changed = False
        for s in flow.steps:
            st = run["steps"][s.stage]
            if st["status"] == PENDING and any(run["steps"][n]["status"] in (FAILED, SKIPPED) for n in s.needs):
                st["status"] = SKIPPED
                changed = True


def _mark_requested(run: dict, stages: list[str], now_ms: int) -> None:
    for stage in stages:
        st = run["steps"][stage]
        st["status"] = REQUESTED
        st["attempts"] += 1
        st["requested_at"] = now_ms


def start(flow: Workflow, run: dict, now_ms: int) -> Decision:
    ready = _ready(flow, run)
    _mark_requested(run, ready, now_ms)
    return Decision(requests=tuple(ready))


def record(flow: Workflow, run: dict, stage: str, ok: bool, now_ms: int, *,
           result: dict | None = None, error: dict | None = None,
           processor_version: str | None = None) -> Decision:
    """Apply one stage outcome. Idempotent: outcomes for finished steps or runs are ignored."""
    if run["terminal"] is not None or stage not in run["steps"]:
        return Decision()
    st = run["steps"][stage]
    if st["status"] != REQUESTED:
        return Decision()
    st["status"] = COMPLETED if ok else FAILED
    st["result"], st["error"], st["processor_version"] = result, error, processor_version
    step = flow.step(stage)
    if not ok and step.blocking:
        run["terminal"] = FAILED
        return Decision(terminal=FAILED, failed_stage=stage, error=error)
    _skip_unreachable(flow, run)
    ready = _ready(flow, run)
    _mark_requested(run, ready, now_ms)
    if all(s["status"] in DONE for s in run["steps"].values()):
        run["terminal"] = COMPLETED
        return Decision(requests=tuple(ready), terminal=COMPLETED)
    return Decision(requests=tuple(ready))


def expired(flow: Workflow, run: dict, now_ms: int, cap_seconds: float | None = None) -> list[str]:
    """Requested steps whose timeout (at most `cap_seconds`, when given) has passed."""
    if run["terminal"] is not None:
        return []
    out = []
    for s in flow.steps:
        st = run["steps"][s.stage]
        limit = s.timeout_seconds if cap_seconds is None else min(s.timeout_seconds, cap_seconds)
        if st["status"] == REQUESTED and st["requested_at"] is not None \
                and now_ms - st["requested_at"] > limit * 1000:
            out.append(s.stage)
    return out
