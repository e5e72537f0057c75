"""Liveness, readiness and the state gauges, refreshed by one timer on the worker's event loop.

/health answers "is the process alive and its event loop responsive": the timer records when
it last ran and how late; a loop blocked for longer than STALL_SECONDS makes /health fail.
/ready answers "can this worker do its share": partitions assigned and table recovery done.
"""
from __future__ import annotations

import asyncio
import os
import time

from streams.worker import metrics
from streams.worker.web.stagestats import sample as sample_stage_counts
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
                    "event_loop_lag_seconds": round(self.loop_lag, 4),
                    # which of several workers on a host this is (meshstream/web_port.py)
                    "web_port": getattr(getattr(self.app, "conf", None), "web_port", None), "pid": os.getpid()}

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

    def is_work_topic(self, topic: str) -> bool:
        """Whether a topic is one the agents consume to do work (a contract topic).

        Why: the worker's assignment also holds its tables' changelog topics, which a worker
        only reads while recovering; their "lag" (end offset minus a position the consumer never
        advances) sat at 10 from the first seconds and stayed there idle, so `lag > 0` fired forever."""
        try:
            self.rt.manifest.by_topic(topic)
            return True
        except KeyError:
            return False

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
        pool = getattr(self.rt, "_pool", None)  # None until a stage first uses it
        if pool is not None:
            metrics.POOL_SIZE.set(pool.capacity)
        positions = await self.app.consumer.positions(self._assignment())  # one call into the consumer thread
        metrics.LAG.clear()  # partitions this worker no longer owns leave no stale reading
        for tp, position in positions.items():
            if not self.is_work_topic(tp.topic):
                continue
            try:
                high = self.app.consumer.highwater(tp)
            except Exception:  # noqa: BLE001 - not fetched yet
                continue
            if position is not None and high is not None:
                metrics.LAG.labels(tp.topic, str(tp.partition)).set(max(0, high - position))
        self.refresh_runs()
        sample_stage_counts()

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
        # every stage's series is set (0 included): a run that left the table leaves no stale value
        for gauge, values in ((metrics.RETRIES, retries), (metrics.TIMED_OUT, timeouts)):
            for (stage,) in list(gauge._metrics):  # noqa: SLF001 - the label sets created so far
                if stage not in values:
                    gauge.labels(stage).set(0)
            for stage, n in values.items():
                gauge.labels(stage).set(n)
        metrics.STEPS.clear()
        for (stage, status), n in live_steps.items():
            metrics.STEPS.labels(stage, status).set(n)
