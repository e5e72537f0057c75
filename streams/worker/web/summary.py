"""The console overview in one document: summary cards, per-stage numbers, a page of scans,
recent failures and dead letters, with the time it was assembled.

Why one endpoint: the old dashboard sent one request per scan, serially, every 3 s; the console
refreshes with a single GET whose cost does not grow with the number of scans on screen."""
from __future__ import annotations

from streams.worker.web.stagestats import finish
from streams.worker.web.times import iso, now_ms

PAGE = 20


def summary(model, stages: dict, state: str | None = None, offset: int = 0) -> dict:
    """`model`: the ReadModel; `stages`: stagestats.local() summed over workers, with `workers`
    and `unreachable` (views.cluster_stages)."""
    overview = model.overview_counts()
    lag = sum(v for v in (stages.get("lag_by_topic") or {}).values())
    workers = stages.get("workers") or []
    return {
        "updated_at": iso(now_ms()),
        "cards": {"running": overview["running"], "completed": overview["completed"], "failed": overview["failed"],
                  "dead_letters": model.dead_letter_total, "lag": lag,
                  "workers_ready": int(stages.get("ready") or 0), "workers": len(workers),
                  "workers_unreachable": stages.get("unreachable") or []},
        "stages": finish(stages),
        "lag_by_topic": stages.get("lag_by_topic") or {},
        "scans": model.scans_page(state, PAGE, offset),
        "failures": model.recent_failures(10),
        "dead_letters": list(model.dead_letters)[:20],
    }
