"""A run-table record as the API and the CLI show it: ISO times, step durations, and the steps a
finished run will never run shown as `skipped`.

Why: the table stores epoch milliseconds and, for runs finished before the state machine marked
them, steps still `requested` or `pending` after the run failed ("requested" forever)."""
from __future__ import annotations

from streams.worker.web.readmodel import reason, short_message, source_of
from streams.worker.web.times import age, iso, seconds

DONE = ("completed", "failed", "skipped")


def run_view(run: dict, now: int | None = None) -> dict:
    out = dict(run)
    finished = run.get("finished_at")
    steps = {}
    for stage, step in (run.get("steps") or {}).items():
        step = dict(step)
        if run.get("terminal") and step.get("status") not in DONE:
            step["status"], step["finished_at"] = "skipped", step.get("finished_at") or finished
        step["duration_seconds"] = seconds(step.get("requested_at"), step.get("finished_at"))
        for k in ("requested_at", "finished_at", "due_at"):
            step[k] = iso(step.get(k))
        if step.get("status") == "skipped":
            step["due_at"] = None
        if step.get("error"):
            step["reason"] = short_message(step["error"].get("message"))
        steps[stage] = step
    out["steps"] = steps
    out["duration_seconds"] = seconds(run.get("started_at"), finished) if finished else age(run.get("started_at"), now)
    out["started_at"], out["finished_at"] = iso(run.get("started_at")), iso(finished)
    out["source"] = source_of(run.get("files"))
    out["reason"] = reason(out["source"], run.get("failed_stage"), run.get("error")) if run.get("error") else None
    return out
