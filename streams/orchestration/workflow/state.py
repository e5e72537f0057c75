"""The typed, versioned state of one workflow run, as stored in the changelog-backed run table.

The table holds plain JSON (Faust's json serializer, value_type=None), so a run survives a worker
restart and a change of owner; `RunState.from_dict` also reads the version-1 layout that earlier
releases wrote, so a rolling upgrade recovers old runs instead of stranding them.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from functools import lru_cache
from typing import Any

STATE_VERSION = 2

# step statuses
# waiting: ready to run, held in the run table until admission control lets its request out
PENDING, WAITING, REQUESTED, RETRY_WAIT = "pending", "waiting", "requested", "retry_wait"
COMPLETED, FAILED, SKIPPED = "completed", "failed", "skipped"
DONE = (COMPLETED, FAILED, SKIPPED)
# run outcomes (`terminal`); a completed run with failed optional steps is degraded
TERMINALS = (COMPLETED, FAILED)


@dataclass
class StepState:
    status: str = PENDING
    attempts: int = 0                      # requests sent so far (the true count)
    requested_at: int | None = None        # ms, last request
    started_at: int | None = None          # ms, when a stage reported it took the current request
    beat_at: int | None = None             # ms, the current request's last heartbeat
    due_at: int | None = None              # ms: retry_wait -> next request; requested -> a timeout
    request_id: str | None = None          # event id of the current attempt's request
    processor_version: str | None = None
    result: dict | None = None
    error: dict | None = None
    finished_at: int | None = None

    @property
    def done(self) -> bool:
        return self.status in DONE


@dataclass
class RunState:
    run_id: str
    model_id: str
    scan_id: str
    workflow: str
    name: str = ""
    folder: str = ""
    owner_id: str | None = None
    collection_id: str | None = None
    files: list = field(default_factory=list)
    options: dict = field(default_factory=dict)      # the scan's per-request options
    started_at: int = 0
    cause: str | None = None                          # event id that started the run
    partition: int | None = None                      # of the run key (the timer sweeps owned ones)
    steps: dict[str, StepState] = field(default_factory=dict)
    terminal: str | None = None                       # None | completed | failed
    finished_at: int | None = None
    failed_stage: str | None = None
    error: dict | None = None
    degraded: list = field(default_factory=list)      # [{stage, code, message, attempts}]
    v: int = STATE_VERSION

    @classmethod
    def from_discovered(cls, model: dict, now: int, cause: str | None = None,
                        partition: int | None = None) -> "RunState":
        """A fresh run (no steps yet) for a model-discovered payload."""
        return cls(run_id=model["run_id"], model_id=model["model_id"], scan_id=model.get("scan_id") or "",
                   workflow=model.get("workflow") or "", name=model.get("name") or "",
                   folder=model.get("folder") or "", owner_id=model.get("owner_id"),
                   collection_id=model.get("collection_id"), files=list(model.get("files") or []),
                   options=dict(model.get("options") or {}),
                   started_at=now, cause=cause, partition=partition)

    @property
    def finished(self) -> bool:
        return self.terminal is not None

    def to_dict(self) -> dict[str, Any]:
        """The table's JSON form. Shallow on purpose (every event pays for it): the state machine
        never mutates nested values in place, it builds new ones (see machine._clone)."""
        raw = dict(self.__dict__)
        raw["steps"] = {stage: dict(step.__dict__) for stage, step in self.steps.items()}
        return raw

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> "RunState":
        raw = dict(raw)
        if raw.get("v", 1) == 1:
            raw = _from_v1(raw)
        known, step_known = _field_names(cls), _field_names(StepState)
        steps = {k: StepState(**{a: b for a, b in v.items() if a in step_known}) for k, v in (raw.get("steps") or {}).items()}
        return cls(**{**{k: v for k, v in raw.items() if k in known}, "steps": steps})


@lru_cache(maxsize=None)
def _field_names(cls) -> frozenset[str]:
    """A dataclass's field names, computed once (every event decodes a run state)."""
    return frozenset(f.name for f in fields(cls))


def _from_v1(raw: dict) -> dict:
    """Version 1 (before the effects redesign): steps had no due_at/request_id, terminal held
    the outcome, and the run carried nothing about degradation."""
    steps = {}
    for stage, st in (raw.get("steps") or {}).items():
        st = dict(st)
        st.setdefault("due_at", None)
        steps[stage] = st
    raw["steps"] = steps
    raw["v"] = STATE_VERSION
    for key in ("scan_id", "workflow", "name", "folder"):
        raw.setdefault(key, "")
    return raw
