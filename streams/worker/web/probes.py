"""Liveness, readiness and the state gauges, refreshed by one timer on the worker's event loop.

/health answers "is the process alive and its event loop responsive": the timer records when
it last ran and how late; a loop blocked for longer than STALL_SECONDS makes /health fail.
/ready answers "can this worker do its share": partitions assigned and table recovery done.
"""
from __future__ import annotations

import asyncio
import time

from streams.worker import metrics
from streams.worker.heap import freeze_startup_heap
from streams.core import names

TICK = 1.0
# lag and run gauges are refreshed less often than the liveness tick: the lag readings are a call
# into the consumer thread, and the run gauges scan the run table; a Prometheus scrape (15 s by
# default) sees fresh enough values either way
GAUGES_EVERY = 5
STALL_SECONDS = 15.0


class Probes:
    def __init__(self, app, runtime):
        self.app, self.rt = app, runtime
        self.last_tick = time.monotonic()
        self.loop_lag = 0.0

    def health(self) -> tuple[bool, dict]:
        since = time.monotonic() - self.last_tick
        ok = since < STALL_SECONDS
        return ok, {"status": "ok" if ok else "stalled", "seconds_since_tick": round(since, 3),
                    "event_loop_lag_seconds": round(self.loop_lag, 4)}

    def ready(self) -> tuple[bool, dict]:
        assigned = sorted(f"{tp.topic}[{tp.partition}]" for tp in self._assignment())
        recovery = getattr(self.app.tables, "recovery", None)
        recovered = bool(recovery is not None and recovery.completed.is_set())
        ok = bool(assigned) and recovered and not getattr(self.app, "rebalancing", False)
        metrics.READY.set(1 if ok else 0)
        if ok:
            freeze_startup_heap()  # once: start-up is over (streams/worker/heap.py)
        return ok, {"status": "ready" if ok else "not ready", "partitions_assigned": len(assigned),
                    "tables_recovered": recovered}

    def _assignment(self):
        try:
            return self.app.consumer.assignment()
        except Exception:  # noqa: BLE001 - no consumer yet: nothing assigned
            return set()

    def runs_table(self):
        try:
            return self.app.tables[names.RUNS_TABLE]
        except KeyError:
            return None

    async def tick_forever(self) -> None:
        ticks = 0
        while True:
            start = time.monotonic()
            await asyncio.sleep(TICK)
            now = time.monotonic()
            self.loop_lag = max(0.0, now - start - TICK)
            self.last_tick = now
            metrics.LOOP_LAG.set(self.loop_lag)
            ticks += 1
            if ticks % GAUGES_EVERY:
                self.ready()
                continue
            try:
                await self.refresh()
            except Exception:  # noqa: BLE001 - a gauge refresh must never kill the probe
                pass

    async def refresh(self) -> None:
        self.ready()
        pool = getattr(self.rt, "_pool", None)
        if getattr(pool, "_max_workers", None):
            metrics.POOL_SIZE.set(pool._max_workers)  # noqa: SLF001
        positions = await self.app.consumer.positions(self._assignment())  # one call into the consumer thread
        for tp, position in positions.items():
            try:
                high = self.app.consumer.highwater(tp)
            except Exception:  # noqa: BLE001 - not fetched yet
                continue
            if position is not None and high is not None:
                metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - position))
        self.refresh_runs()

    def refresh_runs(self) -> None:
        """Runs by workflow and state, retries and timeouts, from the run table's owned partitions."""
        table = self.runs_table()
        if table is None:
            return
        owned = {tp.partition for tp in self._assignment()}
        counts, retries, timeouts, live_steps = {}, {}, {}, {}
        for run in list(table.values()):
            if not isinstance(run, dict) or run.get("partition") not in owned:
                continue
            state = run.get("terminal") or "running"
            key = (run.get("workflow") or "unknown", state)
            counts[key] = counts.get(key, 0) + 1
            for stage, step in (run.get("steps") or {}).items():
                if state == "running" and step.get("status") in ("waiting", "requested", "retry_wait"):
                    live_steps[(stage, step["status"])] = live_steps.get((stage, step["status"]), 0) + 1
                    if step["status"] == "requested" and step.get("started_at") is None:  # admission's bound
                        live_steps[(stage, "queued")] = live_steps.get((stage, "queued"), 0) + 1
                extra = max(0, int(step.get("attempts") or 0) - 1)
                retries[stage] = retries.get(stage, 0) + extra
                if (step.get("error") or {}).get("code") == "timeout":
                    timeouts[stage] = timeouts.get(stage, 0) + 1
        metrics.RUNS.clear()
        for (workflow, state), n in counts.items():
            metrics.RUNS.labels(workflow, state).set(n)
        for stage, n in retries.items():
            metrics.RETRIES.labels(stage).set(n)
        metrics.STEPS.clear()
        for (stage, status), n in live_steps.items():
            metrics.STEPS.labels(stage, status).set(n)
        for stage, n in timeouts.items():
            metrics.TIMED_OUT.labels(stage).set(n)


def stage_counts() -> dict:
    """This worker's per-stage counters and lag, from its own Prometheus registry (the dashboard's
    stage table; Prometheus + Grafana give the cluster-wide view)."""
    out: dict = {}

    def row(stage):
        return out.setdefault(stage, {"in": 0, "completed": 0, "failed": 0, "dead_letters": 0, "failed_by_code": {}})

    for metric in metrics.REGISTRY.collect():
        for sample in metric.samples:
            stage = sample.labels.get("stage")
            if sample.name == "meshstream_stage_events_in_total":
                row(stage)["in"] += sample.value
            elif sample.name == "meshstream_stage_completed_total":
                row(stage)["completed"] += sample.value
            elif sample.name == "meshstream_stage_failed_total":
                row(stage)["failed"] += sample.value
                codes = row(stage)["failed_by_code"]
                codes[sample.labels["code"]] = codes.get(sample.labels["code"], 0) + sample.value
            elif sample.name == "meshstream_dead_letters_total":
                row(stage)["dead_letters"] += sample.value
    lag: dict = {}
    for metric in metrics.REGISTRY.collect():
        for sample in metric.samples:
            if sample.name == "meshstream_consumer_lag":
                lag[sample.labels["topic"]] = lag.get(sample.labels["topic"], 0) + sample.value
    return {"stages": out, "lag_by_topic": lag}
