"""Admission control: how many requests of each stage may wait to start at once, and which
waiting step goes next.

Why: a scan of 10,000 models used to put 10,000 requests on a stage's topic at once. Every
request then waited behind the others, a step's timeout ran out while it was still queued, and
the copies requested again queued behind the originals (issue 18). Here the orchestrator keeps
at most `limit` requests per stage *queued* (sent, not started: no beat 0 yet) for the runs it
owns and holds the rest in the run table as `waiting` (the state machine's `hold`), so a library
of any size waits in the table, not in the topics, and the next request is chosen when a slot
frees, fairly:

* between scans, fewest waiting steps first, round robin among equals: a 5-model scan submitted
  while a 2,000-model scan runs takes the next free slots, so it finishes in about the time it
  would take alone plus one step (a plain round robin gave it half the slots and doubled it);
* the bound is on requests not started, not on requests out: started steps are bounded by the
  pool processes anyway, and counting them let a new scan's request queue behind a full
  limit of the big scan's (with 4 per pool process: about four steps per stage, measured
  1.5x its alone time in tests/integration/test_admission.py). A slot frees when a queued
  step starts, so the stage always has the next request at hand and a newcomer waits behind
  at most `limit` others;
* within a scan, in the order its runs became ready: discovery emits a scan's models largest
  first (the LPT idea), so the largest models start first and the batch's tail is short.

This module is pure bookkeeping over run states (no Faust, no clock): the orchestrator feeds it
every run state it stores (`observe`), drops runs it no longer owns (`retain`), and asks for the
steps to admit (`take`). The index is rebuilt from the run table after a rebalance; the run
table stays the source of truth.
"""
from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable, Hashable, Iterable

from streams.orchestration.workflow import RunState, in_flight_stages, queued_stages, waiting_stages


@dataclass
class _StageQueue:
    """One stage's waiting steps by scan (insertion-ordered), and the runs it has in flight."""

    by_scan: OrderedDict = field(default_factory=OrderedDict)   # scan id -> OrderedDict[run key, None]
    in_flight: set = field(default_factory=set)                 # run keys: requested (started or not)
    queued: set = field(default_factory=set)                    # run keys: requested, not started
    waiting: int = 0

    def add_waiting(self, scan: str, key: Hashable) -> None:
        runs = self.by_scan.setdefault(scan, OrderedDict())
        if key not in runs:
            runs[key] = None
            self.waiting += 1

    def discard_waiting(self, scan: str, key: Hashable) -> None:
        runs = self.by_scan.get(scan)
        if runs is not None and key in runs:
            del runs[key]
            self.waiting -= 1
            if not runs:
                del self.by_scan[scan]

    def next_round_robin(self) -> tuple[str, Hashable] | None:
        """The oldest waiting run of the scan with the fewest waiting steps (a small scan beside a
        library finishes in about its own time: fair share alone would double it); among equals,
        the scan whose turn it is, which then moves to the back."""
        if not self.by_scan:
            return None
        scan = min(self.by_scan, key=lambda s: len(self.by_scan[s]))  # min keeps the first of equals
        runs = self.by_scan[scan]
        key = next(iter(runs))
        self.discard_waiting(scan, key)
        if scan in self.by_scan:
            self.by_scan.move_to_end(scan)
        return scan, key


def _ms(value) -> int:
    return int(value.timestamp() * 1000) if hasattr(value, "timestamp") else int(value)


# A step that answers within this long sends no beat 0 (streams/worker/stage_agent.py): its answer
# says it started and ended, and an event pair per step was a fifth of a tiny model's event
# traffic. Its service time counts as this bound, which gives the stage the highest limit
# anyway at the default queue of 0.5 s (16 x the floor needs steps under 31 ms).
SHORT_STEP_MS = 25


class ServiceTimes:
    """Each stage's recent execution time per step, an exponentially weighted mean over the
    steps the orchestrator saw complete, on the stage's own clock: from beat 0's `started_at`
    to the completed event's `occurred_at` (both stamped by the worker that ran the step).
    Execution only: neither the time queued nor the orchestrator's delivery delay is in it, so
    a starved stage (its answers arriving late behind other stages') does not look slow and
    keep itself starved, and a deeper queue does not raise its own limit. A step answered with
    no beat 0 seen was short (it sent none) and counts as SHORT_STEP_MS."""

    WEIGHT = 0.1  # the latest step's share: about the last 10-20 steps count
    REMEMBERED = 50_000  # beat-0 times of requests not answered yet (bounded: lost ones age out)
    # answers whose beat 0 may still be read. A short step sends none, so nearly every answer of
    # a short stage waits here for a beat that never comes: the bound is the memory they hold
    # (50,000 held 8.5 MiB, tracemalloc). A beat 0 read after its answer came in the same fetch
    # or the next; one trailing more than 1,024 answers is not measured: one sample fewer.
    ANSWERS_REMEMBERED = 1_024

    def __init__(self):
        self.mean_ms: dict[str, float] = {}
        self._started: OrderedDict[str, int] = OrderedDict()
        self._answered: OrderedDict[str, tuple[str, int]] = OrderedDict()  # answers whose beat 0 may still come

    def started(self, request_id: str, started_at) -> None:
        """Beat 0 of a request; times are ms or datetimes (Avro timestamp-millis decodes to one).
        Beat 0 and the answer travel on different topics, so an answer may be read first (both
        in one fetch): then the pair is measured here as well."""
        answer = self._answered.pop(request_id, None)
        if answer is not None:
            self._sample(answer[0], _ms(started_at), answer[1])
            return
        self._remember(self._started, request_id, _ms(started_at), self.REMEMBERED)

    def answered(self, stage: str, request_id: str | None, occurred_at, *, beat_seen: bool) -> None:
        """The answer to a request. `beat_seen`: whether the run's state has the step started
        (a beat 0 read by this orchestrator or, before a rebalance, by another). Without one the
        step was short and sent none (SHORT_STEP_MS), unless its beat 0 is still to be read:
        that one, when it comes, is measured too."""
        if not request_id:
            return
        started = self._started.pop(request_id, None)
        if started is not None:
            self._sample(stage, started, _ms(occurred_at))
        elif not beat_seen:
            self.record(stage, SHORT_STEP_MS)
            self._remember(self._answered, request_id, (stage, _ms(occurred_at)), self.ANSWERS_REMEMBERED)
        # else: its beat 0 was read before this orchestrator owned the run: not a measurement

    def _sample(self, stage: str, started: int, answered: int) -> None:
        if answered >= started:
            self.record(stage, answered - started)

    @staticmethod
    def _remember(pending: OrderedDict, request_id: str, value, bound: int) -> None:
        pending[request_id] = value
        while len(pending) > bound:  # bounded: a beat or an answer that never comes ages out
            pending.popitem(last=False)

    def record(self, stage: str, ms: float) -> None:
        before = self.mean_ms.get(stage)
        self.mean_ms[stage] = ms if before is None else before + self.WEIGHT * (ms - before)


class Admission:
    """Per-stage limits on queued requests over the runs one orchestrator owns.

    `limit` is the floor (one per pool process by default). With `queue_seconds`, a stage whose
    steps are short may queue more: enough requests to cover `queue_seconds` of its measured
    work per slot of the floor (Little's law: a request takes a round trip through the broker
    and the orchestrator to replace one that started, and the stage's processes must not run dry
    meanwhile; 1 queued per process left them idle 91 % of the time on 20 ms steps, bench/scale.py),
    at most `MAX_FACTOR` x the floor. A newcomer scan then waits behind about `queue_seconds`
    of work, whatever the step size."""

    MAX_FACTOR = 16

    def __init__(self, limit: int | Callable[[str], int], queue_seconds: float = 0.0):
        self._limit = limit if callable(limit) else (lambda stage, n=int(limit): n)
        self.queue_ms = max(0.0, queue_seconds) * 1000.0
        self.times = ServiceTimes()
        self._stages: dict[str, _StageQueue] = {}
        self._runs: dict[Hashable, tuple[str, frozenset, frozenset, frozenset]] = {}  # key -> (scan, waiting, in flight, queued)

    def limit(self, stage: str) -> int:
        floor = max(1, self._limit(stage))
        mean = self.times.mean_ms.get(stage)
        if not self.queue_ms or not mean:
            return floor
        return min(floor * self.MAX_FACTOR, max(floor, math.ceil(floor * self.queue_ms / max(mean, 1.0))))

    # -- bookkeeping -----------------------------------------------------------------------------
    def observe(self, key: Hashable, state: RunState | None) -> None:
        """Record a run's current state (None: the run is gone)."""
        before = self._runs.pop(key, None)
        if before is not None:
            scan, waiting, flying, queued = before
            for stage in waiting:
                self._queue(stage).discard_waiting(scan, key)
            for stage in flying:
                self._queue(stage).in_flight.discard(key)
            for stage in queued:
                self._queue(stage).queued.discard(key)
        if state is None or state.finished:
            return
        waiting, flying = frozenset(waiting_stages(state)), frozenset(in_flight_stages(state))
        queued = frozenset(queued_stages(state))
        if not waiting and not flying:
            return
        self._runs[key] = (state.scan_id, waiting, flying, queued)
        for stage in waiting:
            queue = self._queue(stage)
            queue.in_flight.discard(key)  # a reservation whose request was not sent after all
            queue.queued.discard(key)
            queue.add_waiting(state.scan_id, key)
        for stage in flying:
            self._queue(stage).in_flight.add(key)
        for stage in queued:
            self._queue(stage).queued.add(key)

    def retain(self, keep: Callable[[Hashable], bool]) -> None:
        """Forget the runs `keep` rejects (partitions this worker no longer owns)."""
        for key in [k for k in self._runs if not keep(k)]:
            self.observe(key, None)

    def rebuild(self, states: Iterable[tuple[Hashable, RunState]]) -> None:
        """Start over from the run table (after a rebalance), oldest runs first."""
        self._stages.clear()
        self._runs.clear()
        for key, state in sorted(states, key=lambda item: (item[1].started_at, str(item[0]))):
            self.observe(key, state)

    # -- decisions -------------------------------------------------------------------------------
    def take(self) -> list[tuple[Hashable, str]]:
        """(run key, stage) pairs to admit now: as many per stage as its free slots (the limit
        minus its queued requests), round robin between scans. The caller admits them (the
        state machine's `admit`) and observes the new states, which moves them from waiting to
        queued; their beat 0 moves them on to started, which frees the slot."""
        chosen = []
        for stage, queue in self._stages.items():
            free = self.limit(stage) - len(queue.queued)
            while free > 0:
                picked = queue.next_round_robin()
                if picked is None:
                    break
                chosen.append((picked[1], stage))
                queue.in_flight.add(picked[1])  # reserved until observe() records the request
                queue.queued.add(picked[1])
                free -= 1
        return chosen

    def snapshot(self) -> dict[str, dict[str, int]]:
        """{stage: {"waiting": n, "in_flight": n, "queued": n, "limit": n}} for metrics and the API."""
        return {stage: {"waiting": q.waiting, "in_flight": len(q.in_flight), "queued": len(q.queued),
                        "limit": self.limit(stage)}
                for stage, q in self._stages.items()}

    def _queue(self, stage: str) -> _StageQueue:
        queue = self._stages.get(stage)
        if queue is None:
            queue = self._stages[stage] = _StageQueue()
        return queue
