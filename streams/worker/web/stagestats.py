"""Per-stage numbers for the console: counts, rate, p50/p95 and failure rate, summed over workers.

Each worker reports its own counters, duration histogram buckets and a completion rate (from a
short history of its counters, sampled by the probes' timer); `add` sums another worker's report
into this one, and `finish` turns the summed buckets into quantiles the way Prometheus'
histogram_quantile does (linear within a bucket), so the console and Grafana agree.
"""
from __future__ import annotations

import collections
import math
import time

from streams.worker import metrics

RATE_WINDOW_SECONDS = 60.0
_history: collections.deque = collections.deque(maxlen=64)  # (unix time, {stage: finished requests})


def _empty() -> dict:
    return {"in": 0, "completed": 0, "failed": 0, "dead_letters": 0, "failed_by_code": {}, "buckets": {},
            "rate_per_second": 0.0}


def _finished_by_stage(stages: dict) -> dict:
    return {s: row["completed"] + row["failed"] for s, row in stages.items()}


def local() -> dict:
    """This worker's stage counters, duration buckets, rate, lag (contract topics) and readiness."""
    out: dict = {}
    lag: dict = {}
    ready = 0.0
    for metric in metrics.REGISTRY.collect():
        for sample in metric.samples:
            stage = sample.labels.get("stage")
            name = sample.name
            if name == "meshstream_stage_events_in_total":
                out.setdefault(stage, _empty())["in"] += sample.value
            elif name == "meshstream_stage_completed_total":
                out.setdefault(stage, _empty())["completed"] += sample.value
            elif name == "meshstream_stage_failed_total":
                row = out.setdefault(stage, _empty())
                row["failed"] += sample.value
                row["failed_by_code"][sample.labels["code"]] = row["failed_by_code"].get(sample.labels["code"], 0) + sample.value
            elif name == "meshstream_dead_letters_total":
                out.setdefault(stage, _empty())["dead_letters"] += sample.value
            elif name == "meshstream_stage_duration_seconds_bucket":
                buckets = out.setdefault(stage, _empty())["buckets"]
                buckets[sample.labels["le"]] = buckets.get(sample.labels["le"], 0) + sample.value
            elif name == "meshstream_consumer_lag":
                lag[sample.labels["topic"]] = lag.get(sample.labels["topic"], 0) + sample.value
            elif name == "meshstream_ready":
                ready = sample.value
    now = time.time()
    finished = _finished_by_stage(out)
    base = next(((t, f) for t, f in _history if now - t <= RATE_WINDOW_SECONDS), None)
    if base is not None and now - base[0] >= 1:
        for stage, n in finished.items():
            out[stage]["rate_per_second"] = max(0.0, (n - base[1].get(stage, 0)) / (now - base[0]))
    return {"stages": out, "lag_by_topic": lag, "ready": ready}


def sample() -> None:
    """Remember this worker's finished counts now (called by the probes' timer)."""
    _history.append((time.time(), _finished_by_stage(local()["stages"])))


def add(total: dict, other: dict) -> None:
    """Sum another worker's `local()` into `total`."""
    for stage, row in (other.get("stages") or {}).items():
        mine = total["stages"].setdefault(stage, _empty())
        for k in ("in", "completed", "failed", "dead_letters", "rate_per_second"):
            mine[k] += row.get(k, 0)
        for code, n in (row.get("failed_by_code") or {}).items():
            mine["failed_by_code"][code] = mine["failed_by_code"].get(code, 0) + n
        for le, n in (row.get("buckets") or {}).items():
            mine["buckets"][le] = mine["buckets"].get(le, 0) + n
    for topic, lag in (other.get("lag_by_topic") or {}).items():
        total["lag_by_topic"][topic] = total["lag_by_topic"].get(topic, 0) + lag
    total["ready"] = total.get("ready", 0) + other.get("ready", 0)


def quantile(q: float, buckets: dict) -> float | None:
    """Prometheus' histogram_quantile over cumulative `{le: count}` buckets (None without data)."""
    rows = sorted(((math.inf if le == "+Inf" else float(le)), n) for le, n in buckets.items())
    if not rows or rows[-1][1] <= 0:
        return None
    rank = q * rows[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in rows:
        if count >= rank:
            if math.isinf(bound):
                return lower_bound  # beyond the largest finite bucket: its bound, as Prometheus does
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def finish(total: dict) -> list[dict]:
    """Rows for the console: one per stage, with p50/p95 and failure rate, in stage order."""
    rows = []
    for stage, row in sorted(total["stages"].items()):
        done = row["completed"] + row["failed"]
        rows.append({"stage": stage, "in": row["in"], "completed": row["completed"], "failed": row["failed"],
                     "dead_letters": row["dead_letters"], "failed_by_code": row["failed_by_code"],
                     "rate_per_second": round(row["rate_per_second"], 3),
                     "p50_seconds": _round(quantile(0.5, row["buckets"])),
                     "p95_seconds": _round(quantile(0.95, row["buckets"])),
                     "failure_rate": round(row["failed"] / done, 4) if done else None})
    return rows


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)
