"""Workflow definitions (`schemas/workflows.yaml`): load them into typed, immutable values and
validate them, once, for everyone.

Why here and not in streams/: a workflow is part of the contract surface. `contracts check`
(offline, no Faust) must refuse a workflow with a cycle, an unknown stage, an unreachable step or
a stage without contracts, and the worker must refuse the same file at start-up with the same
words; both call `validate_workflows`. The run-time state machine (streams.orchestration.workflow) only reads
the `Workflow` values built here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from graphlib import TopologicalSorter
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import yaml

from schemas import SCHEMAS_DIR

WORKFLOWS_PATH = SCHEMAS_DIR / "workflows.yaml"
STATUSES = ("active", "planned")
STEP_KEYS = {"stage", "needs", "blocking", "timeout_seconds", "queue_timeout_seconds", "heartbeat_timeout_seconds",
             "max_attempts", "retry", "options"}
RETRY_KEYS = {"initial_seconds", "max_seconds", "multiplier", "jitter"}


class WorkflowError(ValueError):
    """An unknown or planned workflow, or an invalid definition (a deterministic failure)."""

    code = "unknown_workflow"
    retryable = False


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff between attempts of a step: initial * multiplier**(n-1), capped at
    max_seconds, spread by +/- jitter (a fraction) so retries of many runs do not arrive together."""

    initial_seconds: float = 1.0
    max_seconds: float = 60.0
    multiplier: float = 2.0
    jitter: float = 0.1

    def delay_seconds(self, failed_attempts: int, spread: float = 0.0) -> float:
        """Delay before the next attempt after `failed_attempts` failures; `spread` in [-1, 1]."""
        base = min(self.max_seconds, self.initial_seconds * self.multiplier ** max(0, failed_attempts - 1))
        return max(0.0, base * (1.0 + self.jitter * spread))


@dataclass(frozen=True)
class Step:
    stage: str
    needs: tuple[str, ...] = ()
    blocking: bool = True
    timeout_seconds: int = 300            # start-to-close: from the stage's `started` to its answer
    queue_timeout_seconds: int = 3600     # schedule-to-start: from the request to `started`
    heartbeat_timeout_seconds: int = 30   # a started step silent this long was lost (worker died)
    max_attempts: int = 3
    retry: RetryPolicy = RetryPolicy()
    # request options this workflow sets for the stage (e.g. thumbnails preview_type: hero);
    # a scan's own options override them (streams.orchestration.request_builders)
    options: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))


@dataclass(frozen=True)
class Workflow:
    name: str
    status: str
    description: str
    steps: tuple[Step, ...] = ()
    # context the workflow adds to every run, e.g. {"collection": "folder"}: runs of one scan
    # folder share a collection_id (folder-aware processing)
    context: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def active(self) -> bool:
        return self.status == "active"

    @property
    def stages(self) -> tuple[str, ...]:
        return tuple(s.stage for s in self.steps)

    def step(self, stage: str) -> Step:
        for s in self.steps:
            if s.stage == stage:
                return s
        raise KeyError(f"workflow {self.name} has no stage {stage}")

    def dependants(self, stage: str) -> tuple[str, ...]:
        return tuple(s.stage for s in self.steps if stage in s.needs)

    def in_order(self) -> tuple[Step, ...]:
        """The steps, each after every step it needs: an order one run can take (the bench's
        serial baseline, bench/workflow_work.py). A cycle raises graphlib.CycleError; loaded
        workflows have none (structure_problems)."""
        order = TopologicalSorter({s.stage: s.needs for s in self.steps}).static_order()
        return tuple(self.step(stage) for stage in order)


@dataclass(frozen=True)
class Workflows:
    """Every workflow of a workflows.yaml, and the one a scan runs when it names none."""

    default: str | None
    flows: Mapping[str, Workflow]

    def __getitem__(self, name: str) -> Workflow:
        return self.flows[name]

    def __contains__(self, name: object) -> bool:
        return name in self.flows

    def __iter__(self):
        return iter(self.flows)

    def values(self):
        return self.flows.values()

    def items(self):
        return self.flows.items()

    def runnable(self, name: str) -> Workflow:
        """The workflow to run, refusing unknown and planned ones."""
        if name not in self.flows:
            raise WorkflowError(f"unknown workflow {name!r}; known: {sorted(self.flows)}")
        flow = self.flows[name]
        if not flow.active:
            raise WorkflowError(f"workflow {name!r} is {flow.status}; the orchestrator only runs active workflows")
        return flow


def _retry(spec: Mapping | None, base: RetryPolicy, where: str) -> RetryPolicy:
    spec = spec or {}
    unknown = set(spec) - RETRY_KEYS
    if unknown:
        raise WorkflowError(f"{where}: unknown retry keys {sorted(unknown)}")
    return RetryPolicy(**{k: float(spec.get(k, getattr(base, k))) for k in RETRY_KEYS})


def parse_workflows(doc: Mapping) -> Workflows:
    """Typed workflows from a parsed workflows.yaml; structural problems raise WorkflowError."""
    if not isinstance(doc, Mapping) or not isinstance(doc.get("workflows"), Mapping):
        raise WorkflowError("workflows.yaml needs a `workflows:` mapping")
    defaults = doc.get("defaults") or {}
    base_retry = _retry(defaults.get("retry"), RetryPolicy(), "defaults")
    flows: dict[str, Workflow] = {}
    for name, spec in doc["workflows"].items():
        spec = spec or {}
        status = spec.get("status", "active")
        if status not in STATUSES:
            raise WorkflowError(f"workflow {name}: status {status!r} is not one of {STATUSES}")
        steps = []
        for raw in spec.get("steps") or []:
            where = f"workflow {name}, step {raw.get('stage')!r}"
            unknown = set(raw) - STEP_KEYS
            if unknown:
                raise WorkflowError(f"{where}: unknown keys {sorted(unknown)}")
            if not isinstance(raw.get("stage"), str):
                raise WorkflowError(f"workflow {name}: every step needs a `stage`")
            max_attempts = int(raw.get("max_attempts", defaults.get("max_attempts", 3)))
            if max_attempts < 1:
                raise WorkflowError(f"{where}: max_attempts must be at least 1")
            stage_defaults = (doc.get("stages") or {}).get(raw["stage"]) or {}
            steps.append(Step(stage=raw["stage"], needs=tuple(raw.get("needs") or ()),
                              blocking=bool(raw.get("blocking", stage_defaults.get("blocking", True))),
                              timeout_seconds=int(raw.get("timeout_seconds", defaults.get("timeout_seconds", 300))),
                              queue_timeout_seconds=int(raw.get("queue_timeout_seconds",
                                                                defaults.get("queue_timeout_seconds", 3600))),
                              heartbeat_timeout_seconds=int(raw.get("heartbeat_timeout_seconds",
                                                                    defaults.get("heartbeat_timeout_seconds", 30))),
                              max_attempts=max_attempts, retry=_retry(raw.get("retry"), base_retry, where),
                              options=MappingProxyType(dict(raw.get("options") or {}))))
        flow = Workflow(name, status, spec.get("description", ""), tuple(steps),
                        MappingProxyType(dict(spec.get("context") or {})))
        structural = structure_problems(flow)
        if structural:
            raise WorkflowError("; ".join(structural))
        flows[name] = flow
    default = doc.get("default")
    if default is not None and (default not in flows or not flows[default].active):
        raise WorkflowError(f"default workflow {default!r} is not an active workflow")
    return Workflows(default, MappingProxyType(flows))


def structure_problems(flow: Workflow) -> list[str]:
    """What makes a workflow's graph unrunnable: no steps, a stage twice, a need that names no
    step, a cycle (its runs would wait forever), a step that can never start."""
    where = f"workflow {flow.name}"
    if not flow.steps:
        return [f"{where}: has no steps"]
    stages = [s.stage for s in flow.steps]
    problems = [f"{where}: stage {s} appears twice" for s in sorted({s for s in stages if stages.count(s) > 1})]
    for s in flow.steps:
        unknown = sorted(set(s.needs) - set(stages))
        if unknown:
            problems.append(f"{where}: step {s.stage} needs unknown stages {unknown}")
        if s.stage in s.needs:
            problems.append(f"{where}: step {s.stage} needs itself")
        optional = sorted(n for n in s.needs if n in stages and s.blocking and not flow.step(n).blocking)
        if optional:
            problems.append(f"{where}: blocking step {s.stage} needs optional steps {optional} "
                            "(it would be skipped whenever they fail: make it optional or them blocking)")
    if problems:
        return problems
    # Kahn's algorithm: whatever is never freed sits on a cycle or behind one.
    remaining = {s.stage: set(s.needs) for s in flow.steps}
    done: set[str] = set()
    while True:
        free = [st for st, needs in remaining.items() if needs <= done]
        if not free:
            break
        for st in free:
            done.add(st)
            del remaining[st]
    if remaining:
        cyclic = sorted(st for st in remaining if _on_cycle(flow, st))
        stuck = sorted(set(remaining) - set(cyclic))
        problems.append(f"{where}: cycle between steps {cyclic}")
        if stuck:
            problems.append(f"{where}: steps {stuck} can never start (they wait on the cycle)")
    return problems


def _on_cycle(flow: Workflow, start: str) -> bool:
    needs = {s.stage: s.needs for s in flow.steps}
    seen, todo = set(), list(needs[start])
    while todo:
        st = todo.pop()
        if st == start:
            return True
        if st not in seen:
            seen.add(st)
            todo.extend(needs.get(st, ()))
    return False


def contract_problems(flows: Workflows, manifest) -> list[str]:
    """Every stage a workflow names has requested/completed/failed contracts, active when the
    workflow is active (a planned workflow may name planned contracts)."""
    names = {c.name: c for c in manifest.contracts}
    problems = []
    for flow in flows.values():
        for stage in flow.stages:
            for event in ("requested", "completed", "failed"):
                c = names.get(f"{stage}.{event}")
                if c is None:
                    problems.append(f"workflow {flow.name}: stage {stage} has no contract {stage}.{event}")
                elif flow.active and not c.active:
                    problems.append(f"workflow {flow.name} is active but contract {c.name} is {c.status}")
    return problems


def load_workflows(path: Path = WORKFLOWS_PATH) -> Workflows:
    return parse_workflows(yaml.safe_load(Path(path).read_text()) or {})


def validate_workflows(path: Path, manifest) -> list[str]:
    """Every problem of a workflows file, structural or against the manifest, as one line each."""
    try:
        flows = load_workflows(path)
    except WorkflowError as exc:
        return [str(exc)]
    except (OSError, yaml.YAMLError) as exc:
        return [f"{path}: {exc}"]
    return contract_problems(flows, manifest)


@lru_cache(maxsize=1)
def default_workflows() -> Workflows:
    return load_workflows()
