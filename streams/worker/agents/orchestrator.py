"""The orchestrator agent: interprets the workflow state machine's effects, nothing more.

It consumes model-discovered events and every stage's completed/failed events (all keyed by run
id and co-partitioned with the run table), turns each into a state-machine event, applies
`streams.orchestration.workflow.apply`, and carries out the effects: send a stage request, emit the run's one
terminal event, wake the run at a time (retry backoff, step timeout). Every transition rule lives
in streams/orchestration/workflow/machine.py; this module holds no policy.

Events are handled in batches: every event already received at once (streams/faust_ext/batches.py), so
one produce request and one ack wait serve the batch instead of one round trip per event.

Admission control (streams/orchestration/admission.py, ADR 0012): steps that become ready wait
in the run table (`waiting`) and at most a bounded number of requests per stage are in flight
for the runs this worker owns; a freed slot goes to the next waiting step, round robin between
scans. Stages report `started` and heartbeats (`pipeline.step-started`), which start the step's
execution and heartbeat clocks: time spent queued never counts as a stuck stage.

Ordering that makes crashes harmless: effects are sent (and acked) before the new states are
written to the changelog-backed table, and the batch's offsets are acked after that; a crash in
between replays the same events on the old states, which yields the same effects with the same
deterministic event ids.
"""
from __future__ import annotations

import asyncio
import heapq
import logging
import time

from streams.execution.pool import pool_capacity
from streams.orchestration import workflow as wf
from streams.orchestration.admission import Admission
from streams.core.envelope import derived_id, envelope
from streams.orchestration.request_builders import build_request, terminal_payload
from streams.worker.runtime import log
from streams.core import names
from streams.worker import metrics
from streams.core.policy import InPlaceRetry

STAGE = "orchestrator"


def stage_result_topics(flows: wf.Workflows | None = None) -> list[str]:
    """Contract names of every active workflow stage's outcomes (what the orchestrator consumes
    besides discoveries)."""
    flows = flows or wf.default_workflows()
    stages = sorted({s for f in flows.values() if f.active for s in f.stages})
    return [f"{s}.{kind}" for s in stages for kind in ("completed", "failed")] + [names.STEP_STARTED]


_stage_result_topics = stage_result_topics  # the alignment test's older name


class Wakeups:
    """When runs next need a Tick: a heap of (time ms, run key), fed by ScheduleCheck effects and
    re-seeded by the periodic sweep (after a rebalance this worker may own runs it never saw).

    `sleep` waits until the earliest wake-up is due or an earlier one is added, so a quiet worker
    is not woken to find nothing due (it polled five times a second before), and a retry's
    backoff ends on time."""

    IDLE_SECONDS = 60.0  # the longest sleep with nothing scheduled (the sweep re-seeds anyway)

    def __init__(self):
        self._heap: list[tuple[int, bytes]] = []
        self._queued: set[tuple[int, bytes]] = set()
        self._earlier = asyncio.Event()

    def add(self, at: int, key: bytes) -> None:
        if (at, key) not in self._queued:
            if not self._heap or at < self._heap[0][0]:
                self._earlier.set()
            self._queued.add((at, key))
            heapq.heappush(self._heap, (at, key))

    def due(self, now: int) -> list[bytes]:
        keys = []
        while self._heap and self._heap[0][0] <= now:
            item = heapq.heappop(self._heap)
            self._queued.discard(item)
            keys.append(item[1])
        return list(dict.fromkeys(keys))

    async def sleep(self, now: int) -> None:
        """Return when the earliest wake-up is due (`now` in ms), or when an earlier one is added."""
        self._earlier.clear()
        delay = (self._heap[0][0] - now) / 1000 if self._heap else self.IDLE_SECONDS
        if delay <= 0:
            return
        try:
            await asyncio.wait_for(self._earlier.wait(), min(delay, self.IDLE_SECONDS))
        except asyncio.TimeoutError:
            pass


class Orchestrator:
    """The orchestrator of one worker: the run table, the wake-up heap and the effect interpreter."""

    def __init__(self, app, rt, flows: wf.Workflows | None = None):
        self.app, self.rt = app, rt
        self.flows = flows or wf.default_workflows()
        discovered = rt.manifest.by_name(names.DISCOVERED)
        self.partitions_topic = discovered.topic
        self.runs = app.Table(names.RUNS_TABLE, default=None, partitions=discovered.partitions,
                              # Faust derives the changelog serializers from these types (bytes -> raw,
                              # untyped -> json); a mismatch makes recovery hang, so keep them explicit.
                              key_type=bytes, value_type=None,
                              # the changelog partition comes from the key (murmur2, like every producer
                              # of our run-keyed topics), so the timers may update runs too; the app's
                              # table class computes it without the producer (streams/worker/tables.py)
                              use_partitioner=True)
        self.wakeups = Wakeups()
        # the agent's batches and the timers take turns: a batch's transitions, sends and state
        # writes happen with no timer changing a run in between
        self.serial = asyncio.Lock()
        self.cap = rt.settings.step_timeout_cap
        self.queue_cap = rt.settings.queue_timeout_cap
        # queued (not started) requests per stage: one per pool slot keeps every slot fed while
        # a newcomer scan waits behind about one step (ADR 0012)
        fixed = rt.settings.admission_per_stage
        self.admission = Admission(fixed or pool_capacity(rt.settings),
                                   queue_seconds=0.0 if fixed else rt.settings.admission_queue_seconds)
        self.clock = _now  # ms; the in-memory pipeline test drives time itself

    # -- inputs ------------------------------------------------------------------------------
    async def handle_batch(self, rt, items: list) -> None:
        """Apply a batch of events, `(contract, record, message)` in arrival order, then carry out
        all their effects at once. Events of one run see each other's transitions (the batch's
        own view of the table), so one run's events are applied in order even within a batch."""
        async with self.serial:
            now = self.clock()
            batch_states: dict[bytes, wf.RunState | None] = {}
            planned = []
            for contract, record, message in items:
                step = self._transition(contract, record, message.partition, batch_states, now)
                if step is not None:
                    planned.append(step)
                    # admitted at once, so the batch's later events of the run see the request
                    self._admit(planned, batch_states, now, changed=(step[0],))
            await self.execute(planned)
        metrics.handled(STAGE, len(items))  # events applied (transitions done, effects acknowledged)

    def _transition(self, contract, record: dict, partition: int, batch_states: dict, now: int):
        """The state machine's transition for one event, as `(key, transition, cause)`, or None
        when the event changes nothing (a repeated discovery, an outcome for a finished run)."""
        payload, env_in = record["payload"], record["envelope"]
        if contract.name == names.STEP_STARTED and payload["beat"] == 0:
            # the step's service time, even when its answer was read first and ended the run
            self.admission.times.started(payload["request_id"], payload["started_at"])
        key = payload["run_id"].encode()
        state = batch_states[key] if key in batch_states else self._state(key)
        if contract.name == names.DISCOVERED:
            if state is not None:
                return None  # a redelivered or replayed discovery: the run exists already
            transition = wf.start(self.flows, payload, now, cause=env_in["event_id"], partition=partition,
                                  timeout_cap=self.cap, queue_cap=self.queue_cap, hold=True)
        else:
            if state is None or state.finished:
                return None
            if contract.name == names.STEP_STARTED:
                event = wf.StepStarted(payload["stage"], payload["request_id"], payload["beat"])
            elif contract.event == "completed":
                step = state.steps.get(contract.stage)
                self.admission.times.answered(contract.stage, env_in.get("causation_id"), env_in["occurred_at"],
                                              beat_seen=step is not None and step.started_at is not None)
                event = wf.StepSucceeded(contract.stage, {k: v for k, v in payload.items() if k not in ("run_id", "model_id", "error")},
                                         env_in["producer"]["version"], env_in.get("causation_id"))
            else:
                event = wf.StepFailed(contract.stage, payload["error"], env_in.get("causation_id"))
            transition = wf.apply(self.flows[state.workflow], state, event, now, timeout_cap=self.cap,
                                  queue_cap=self.queue_cap, hold=True)
        batch_states[key] = transition.state
        return key, transition, env_in["event_id"]

    async def wake_due(self) -> None:
        """Tick every run whose retry or timeout is due (in partitions this worker owns)."""
        due = self.wakeups.due(self.clock())
        if not due:
            return
        owned = self._owned()
        async with self.serial:
            planned, batch_states = [], {}
            for key in due:
                state = self._state(key)
                if state is None or state.finished or state.partition not in owned:
                    continue
                try:
                    transition = wf.apply(self.flows[state.workflow], state, wf.Tick(), self.clock(), timeout_cap=self.cap,
                                          queue_cap=self.queue_cap, hold=True)
                except Exception:  # noqa: BLE001 - one bad run must not stop the others
                    log.exception("tick failed for run %s", state.run_id)
                    self.wakeups.add(self.clock() + 5000, key)
                    continue
                if transition.effects or transition.state.steps != state.steps:
                    planned.append((key, transition, None))
                    batch_states[key] = transition.state
            self._admit(planned, batch_states, self.clock())
            try:
                await self.execute(planned)
            except Exception:  # noqa: BLE001 - e.g. the broker is away: tick these runs again soon
                log.exception("ticking %d run(s) failed; trying again in 5 s", len(planned))
                for key, _, _ in planned:
                    self.wakeups.add(self.clock() + 5000, key)

    async def sweep(self) -> None:
        """Re-seed wake-ups of every live run this worker owns, and drop finished runs past the
        retention (a tombstone on the changelog; their history stays on the terminal topics)."""
        owned = self._owned()
        now = self.clock()
        retention_ms = int(self.rt.settings.run_retention_seconds * 1000)
        expired = []
        async with self.serial:
            live = []
            for key, raw in list(self.runs.items()):
                if raw is None or raw.get("partition") not in owned:
                    continue
                if raw.get("terminal") is not None:  # finished: only its age matters (no decoding)
                    finished_at = raw.get("finished_at")
                    if finished_at is not None and now - finished_at > retention_ms:
                        expired.append(key)
                    continue
                state = wf.RunState.from_dict(raw)
                live.append((key, state))
                at = wf.next_check(state)
                if at is not None:
                    self.wakeups.add(at, key)
            # the run table is the truth: after a rebalance this worker owns other runs, and a
            # failed send may have left a reservation behind
            self.admission.rebuild(live)
            for key in expired:
                raw = self.runs.get(key)
                if raw is not None and raw.get("terminal") is not None:
                    del self.runs[key]
            planned: list = []
            self._admit(planned, dict(live), now)
            if planned:
                await self.execute(planned)
        if expired:
            log.info("run table: %d finished run(s) past retention removed", len(expired))

    # -- effects -----------------------------------------------------------------------------
    async def execute(self, planned: list) -> None:
        """Carry out transitions' effects, `(key, transition, cause)` in order, then store their
        states. Every record is encoded first (a contract violation sends nothing), then all are
        handed to the producer and their acks awaited together: one produce request for the
        batch, not a round trip per event. A run's last state is the one stored."""
        outgoing = []  # (contract name, run id, encoded record)
        for key, transition, cause in planned:
            state = transition.state
            for effect in transition.effects:
                if isinstance(effect, wf.RequestStep):
                    step = self.flows[state.workflow].step(effect.stage)
                    env = envelope(STAGE, state.run_id, cause, event_id=effect.request_id)
                    name = f"{effect.stage}.requested"
                    outgoing.append((name, state.run_id, self.rt.encode(name, {"envelope": env, "payload": build_request(effect.stage, state, step.options)})))
                    if effect.attempt > 1:
                        log.info("run %s: %s attempt %d (%s)", state.run_id, effect.stage, effect.attempt,
                                 (state.steps[effect.stage].error or {}).get("code", "timeout"))
                elif isinstance(effect, wf.EmitTerminal):
                    outgoing.append(self._terminal(state, cause))
                elif isinstance(effect, wf.ScheduleCheck):
                    self.wakeups.add(effect.at, key)
        acks = [await self.rt.send_encoded_soon(name, run_id, value) for name, run_id, value in outgoing]
        await asyncio.gather(*acks)  # every ack, or the first failure (the states are then not stored)
        for key, state in {key: transition.state for key, transition, _ in planned}.items():
            self.runs[key] = state.to_dict()  # after the effects were acked: see the module docstring

    def _terminal(self, state: wf.RunState, cause: str | None) -> tuple[str, str, bytes]:
        degraded = f" degraded={[d['stage'] for d in state.degraded]}" if state.degraded else ""
        # failed and degraded runs are worth a line in the log; clean completions are on the
        # terminal topic and in the metrics (a line per model costs more than the transition)
        level = logging.DEBUG if state.terminal == wf.COMPLETED and not state.degraded else logging.INFO
        log.log(level, "run %s %s model=%s name=%s%s", state.run_id, state.terminal, state.model_id, state.name, degraded)
        env = envelope(STAGE, state.run_id, cause, event_id=derived_id("terminal", state.run_id))
        contract = names.COMPLETED if state.terminal == wf.COMPLETED else names.FAILED
        return contract, state.run_id, self.rt.encode(contract, {"envelope": env, "payload": terminal_payload(state)})

    def _admit(self, planned: list, batch_states: dict, now: int, changed=None) -> None:
        """Record new run states (`changed` keys of `batch_states`, or all of them) with
        admission control, then admit the waiting steps it has room for (appended to `planned`,
        so they leave in the same produce request as the batch's other effects)."""
        for key in (batch_states if changed is None else changed):
            self.admission.observe(key, batch_states[key])
        for key, stage in self.admission.take():
            state = batch_states[key] if key in batch_states else self._state(key)
            if state is None:
                self.admission.observe(key, None)
                continue
            transition = wf.admit(self.flows[state.workflow], state, stage, now, timeout_cap=self.cap,
                                  queue_cap=self.queue_cap)
            batch_states[key] = transition.state
            self.admission.observe(key, transition.state)
            if transition.effects:
                planned.append((key, transition, None))

    # -- helpers -----------------------------------------------------------------------------
    def _state(self, key: bytes) -> wf.RunState | None:
        raw = self.runs.get(key)
        return None if raw is None else wf.RunState.from_dict(raw)

    def _owned(self) -> set[int]:
        return {tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == self.partitions_topic}


def _now() -> int:
    return int(time.time() * 1000)


def register(app, rt) -> Orchestrator:
    orch = Orchestrator(app, rt)
    source = rt.topic(names.DISCOVERED, *stage_result_topics(orch.flows))

    @app.task
    async def wake_due_runs():
        retry = InPlaceRetry()
        while True:
            await orch.wakeups.sleep(orch.clock())
            try:
                await orch.wake_due()
                retry.reset()
            except Exception:  # noqa: BLE001 - e.g. no assignment yet mid-rebalance: try again soon
                delay = retry.next_delay()
                log.exception("waking due runs failed; trying again in %.1f s", delay)
                await asyncio.sleep(delay)

    @app.timer(interval=rt.settings.timeout_check_seconds)
    async def sweep_runs():
        await orch.sweep()

    # every event already received at once (streams/faust_ext/batches.py), acked after the batch's effects
    @app.agent(source, name=STAGE)
    async def orchestrator(stream):
        await rt.consume_batches(stream, STAGE, orch.handle_batch, rt.settings.orchestrator_batch)

    return orch
