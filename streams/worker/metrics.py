"""Prometheus metrics of a worker, in one place, so runtime/stage code only makes one-line calls.

Why a module of functions rather than metric objects scattered through the agents: the stage
helper and the runtime are edited by several people; a call such as `metrics.stage_done(...)`
is one line to merge, and every metric name lives here (and in deploy/grafana, which a test
checks against `METRIC_NAMES`).

Counters and histograms move as events flow. Gauges that describe state (runs by workflow and
state, consumer lag, pool use) are refreshed by `streams.worker.web.probes` on a timer, from the
worker's own partitions only, so summing over workers in Prometheus gives the cluster's total.
"""
from __future__ import annotations

import contextlib
import functools

from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, Counter, Gauge, Histogram, generate_latest

_DURATION_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

EVENTS_IN = Counter("meshstream_stage_events_in_total", "Records consumed by a stage's agent", ["stage"])
COMPLETED = Counter("meshstream_stage_completed_total", "Stage requests that completed", ["stage"])
FAILED = Counter("meshstream_stage_failed_total", "Stage requests that failed, by error code", ["stage", "code"])
DURATION = Histogram("meshstream_stage_duration_seconds", "Time a stage spent on one request",
                     ["stage", "outcome"], buckets=_DURATION_BUCKETS)
DEAD_LETTERS = Counter("meshstream_dead_letters_total", "Records sent to the dead-letter topic", ["stage", "code"])
# derived from the run table (orchestrator partitions this worker owns), refreshed on a timer
RUNS = Gauge("meshstream_runs", "Workflow runs in this worker's table partitions", ["workflow", "state"])
RETRIES = Gauge("meshstream_step_retries", "Extra attempts of steps in this worker's runs (retried or re-requested)",
                ["stage"])
STEPS = Gauge("meshstream_steps", "Steps of this worker's live runs by status: waiting (held by admission "
              "control), requested (in flight), queued (requested, not started: admission's bound), retry_wait", ["stage", "status"])
TIMED_OUT = Gauge("meshstream_step_timeouts", "Steps in this worker's runs that failed with code timeout", ["stage"])
LAG = Gauge("meshstream_consumer_lag", "Records not yet consumed, per assigned topic partition", ["topic", "partition"])
POOL_BUSY = Gauge("meshstream_pool_busy", "Processor steps running in the pool (at most meshstream_pool_size)")
POOL_QUEUED = Gauge("meshstream_pool_queued", "Processor tasks waiting for a free pool slot")
POOL_SIZE = Gauge("meshstream_pool_size", "Processor steps the worker's pool runs at once: its processes x MESHSTREAM_PROCESSOR_SLOTS")
LOOP_LAG = Gauge("meshstream_event_loop_lag_seconds", "How late the event loop ran a scheduled tick")
READY = Gauge("meshstream_ready", "1 when partitions are assigned and tables recovered")
# the seeds' domain metrics
TRIANGLES = Histogram("meshstream_model_triangles", "Triangle count of analysed models",
                      buckets=(100, 1_000, 10_000, 100_000, 1_000_000, 5_000_000))
PRINTABILITY = Histogram("meshstream_printability_score", "Printability score (0-100) of analysed models",
                         buckets=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100))
SELLABILITY = Histogram("meshstream_sellability_score", "Sellability score (0-100) of analysed models",
                        buckets=(10, 20, 30, 40, 50, 60, 70, 80, 90, 100))
NEAR_DUPLICATES = Counter("meshstream_near_duplicates_total", "Near duplicates the similarity index found "
                          "(other_owner: the match belongs to another owner)", ["other_owner"])
INDEX_LOOKUPS = Histogram("meshstream_similarity_candidates", "Models of a cell compared in one similarity lookup",
                          buckets=(0, 10, 100, 1_000, 10_000, 100_000))

METRIC_NAMES = frozenset(m._name for m in (  # noqa: SLF001 - the exposed base names
    EVENTS_IN, COMPLETED, FAILED, DURATION, DEAD_LETTERS, RUNS, RETRIES, STEPS, TIMED_OUT, LAG, POOL_BUSY,
    POOL_QUEUED, POOL_SIZE, LOOP_LAG, READY, TRIANGLES, PRINTABILITY, SELLABILITY, NEAR_DUPLICATES, INDEX_LOOKUPS))


# Stages and the error codes every dashboard panel or alert reads: their series exist (at 0) from
# start-up, so a panel says 0 rather than "No data" and `increase()` sees the first event.
ZERO_CODES = ("timeout",)


def init_stage(stage: str) -> None:
    """Create a stage's series at 0 (called when its agent is registered)."""
    _events_in(stage)
    COMPLETED.labels(stage)
    RETRIES.labels(stage)
    TIMED_OUT.labels(stage)
    for code in ZERO_CODES:
        FAILED.labels(stage, code)
        DEAD_LETTERS.labels(stage, code)


_in_flight = 0


@contextlib.contextmanager
def pool_task(capacity: int):
    """One processor task handed to a pool that runs `capacity` steps at once, until its result is back.

    Why not a plain in-progress gauge: the stage agents hand the pool more tasks than it has
    slots (concurrency per stage x stages), and the pool queues the rest; counting them all as
    busy reported 8 busy of 2. Running is min(in flight, capacity), the rest is queued."""
    global _in_flight
    POOL_SIZE.set(capacity)
    _in_flight += 1
    _set_pool_use(capacity)
    try:
        yield
    finally:
        _in_flight -= 1
        _set_pool_use(capacity)


def _set_pool_use(capacity: int) -> None:
    running = min(_in_flight, capacity)
    POOL_BUSY.set(running)
    POOL_QUEUED.set(_in_flight - running)


def event_in(stage: str) -> None:
    _events_in(stage).inc()


@functools.lru_cache(maxsize=None)
def _events_in(stage: str):
    """The stage's child of EVENTS_IN (labels() looks it up under a lock on every call; this
    runs for every record)."""
    return EVENTS_IN.labels(stage)


def stage_done(stage: str, seconds: float, result: dict | None = None, code: str | None = None) -> None:
    """One stage request finished: completed (with its result) or failed with `code`."""
    if code is None:
        COMPLETED.labels(stage).inc()
        DURATION.labels(stage, "completed").observe(seconds)
        _domain(stage, result or {})
    else:
        FAILED.labels(stage, code).inc()
        DURATION.labels(stage, "failed").observe(seconds)


def handled(stage: str, n: int = 1) -> None:
    """`n` events a stage without per-request outcomes (the orchestrator) finished handling."""
    COMPLETED.labels(stage).inc(n)


def similarity_lookup(candidates: int, matches: list[dict]) -> None:
    """One similarity lookup: how many models its cell held, and the near duplicates it found."""
    INDEX_LOOKUPS.observe(candidates)
    for m in matches:
        NEAR_DUPLICATES.labels(str(bool(m["other_owner"])).lower()).inc()


def dead_lettered(stage: str, code: str) -> None:
    DEAD_LETTERS.labels(stage, code).inc()


def _domain(stage: str, result: dict) -> None:
    """The seeds' domain metrics, read from a stage's completed payload."""
    if stage == "technical-metadata":
        triangles = (result.get("metadata") or {}).get("triangles")
        if isinstance(triangles, int):
            TRIANGLES.observe(triangles)
    elif stage == "print-analysis" and isinstance(result.get("printability_score"), (int, float)):
        PRINTABILITY.observe(result["printability_score"])
    elif stage == "sellability" and isinstance(result.get("score"), (int, float)):
        SELLABILITY.observe(result["score"])


def exposition() -> tuple[bytes, str]:
    """The Prometheus text format of every metric, and its content type."""
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
