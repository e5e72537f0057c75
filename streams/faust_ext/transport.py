"""Faust's aiokafka transport, with the stream consumer's fetches batched while records pour in.

Why: Faust builds its stream consumer with `fetch.min.bytes` = 1, so every fetch returns as soon
as one record exists. A worker consumes many partitions (the orchestrator: every stage's outcome
topics, 15 topics x 4 partitions), and each fetch request and response names every one of them
in pure-Python protocol code. With records arriving one at a time, the worker then spends more
CPU on fetch round trips than on the events. Kafka's answer is `fetch.min.bytes` with a bounded
`fetch.max.wait.ms`: the broker answers when enough bytes are ready or the wait is over.

A fixed wait would add up to that wait to every hop of a run while the pipeline is quiet (the
last models of a batch, a single scan). So the wait is adaptive (`FetchBatching`): while records
arrive faster than `busy_rate` per second the consumer asks for batches (`fetch_min_bytes`, at
most `fetch_max_wait_ms`); below it, each fetch returns at the first record, as Faust's does.

Faust exposes neither bound, so the consumer thread here sets them on aiokafka's fetcher, which
reads them for every fetch request it builds (tests/unit/test_transport.py pins that against the
locked aiokafka).

The same consumer thread carries two fixes for start-up under rebalances, both found by the
three-workers start-up test: see `seek_to_committed` and `verify_event_path` below.
"""
from __future__ import annotations

import asyncio
import collections
import inspect
import logging
import time
from typing import Callable

from aiokafka import TopicPartition
from aiokafka.client import ConnectionGroup
from aiokafka.protocol.group import JoinGroupRequest, LeaveGroupRequest
from faust.transport.drivers import aiokafka as driver
from faust.types import TP
from mode.services import WaitResults

from streams.faust_ext.changelogs import tables_by_changelog
from streams.faust_ext.committed_seek import seek_to_committed_or_reset
from streams.faust_ext.head_watch import WAIT, HeadWatch, Rewind

_log = logging.getLogger(__name__)

# How long a worker's stop may wait for the broker, all steps together: the consumer's last commit
# (aiokafka looks for the group coordinator without end), the consumer thread's stop (aiokafka's
# fetcher.close() re-raised the CancelledError of its own fetch task, the thread never reported
# "stopped" and mode waited its 60 s shutdown_timeout: a SIGTERM took ~70 s, issue 22), the app's
# producer flush and the producer's stop (both wait for every buffered record, which with the
# broker unreachable leaves the buffer only when it expires: DELIVERY_TIMEOUT below,
# 20 minutes). What a step abandons is safe to lose: an input is committed only after the broker
# acknowledged its outputs, so its partition's next owner reads it again (as after a crash).
STOP_BUDGET = 5.0
# How long the producer retries a record before failing it, unless the worker says
# (MESHSTREAM_PRODUCER_DELIVERY_TIMEOUT): Faust's default request timeout, which aiokafka also
# used as the record's time to live (see WorkerProducer)
DELIVERY_TIMEOUT = 1200.0
STEP_FLOOR = 0.5  # every step may try this long even when the budget is spent
# A consumer stop still running after this is stuck behind a rebalance (see on_thread_stop).
LEAVE_AFTER = 0.5
LEAVE_TIMEOUT = 2.0  # another connection's fetch long-poll may come first (<= 1.5 s)
IDLE_MIN_BYTES = 1          # answer at the first record
IDLE_MAX_WAIT_MS = 1500     # Faust's own wait for an empty fetch
# How long a partition's head may be missing (later records acked) before it is read again: a
# record dropped by Faust around a rebalance (streams/faust_ext/head_watch.py); a rebalance's own
# seek usually re-reads it first.
HEAD_GRACE = 5.0


class StopDeadline:
    """One STOP_BUDGET for all the bounded steps of a worker's stop: the clock starts at the first
    step that asks, and every step gets what is left (at least STEP_FLOOR)."""

    def __init__(self, budget: float = STOP_BUDGET, clock: Callable[[], float] = time.monotonic):
        self.budget, self.clock = budget, clock
        self._end: float | None = None

    def remaining(self) -> float:
        now = self.clock()
        if self._end is None:
            self._end = now + self.budget
        return max(STEP_FLOOR, self._end - now)


async def within(deadline: StopDeadline, coro, what: str) -> bool:
    """Await `coro` for what is left of the stop's budget; False (logged, `coro` cancelled) when
    it was abandoned. A failure of a step that finished is raised: not ours to hide."""
    task = asyncio.ensure_future(coro)
    done, _ = await asyncio.wait({task}, timeout=deadline.remaining())
    if task in done:
        task.result()
        return True
    task.cancel()
    _log.warning("%s abandoned after the stop's %.0f s budget (broker unreachable?): what it had not "
                 "delivered or committed is read again by the partitions' next owner", what, deadline.budget)
    return False


class FetchBatching:
    """The fetch bounds for the next request, from the records of the last `window` seconds."""

    def __init__(self, min_bytes: int, max_wait_ms: int, busy_rate: float, window: float = 2.0,
                 clock: Callable[[], float] = time.monotonic):
        self.busy_bounds = (min_bytes, max_wait_ms)
        self.busy_rate, self.window, self.clock = busy_rate, window, clock
        self._seen: collections.deque[tuple[float, int]] = collections.deque()
        self._count = 0

    def observe(self, records: int) -> tuple[int, int]:
        """Record a fetch's record count; returns (fetch_min_bytes, fetch_max_wait_ms)."""
        now = self.clock()
        self._seen.append((now, records))
        self._count += records
        while self._seen and self._seen[0][0] < now - self.window:
            self._count -= self._seen.popleft()[1]
        busy = self.busy_rate > 0 and self._count / self.window >= self.busy_rate
        return self.busy_bounds if busy else (IDLE_MIN_BYTES, IDLE_MAX_WAIT_MS)


def worker_transport(fetch_min_bytes: int, fetch_max_wait_ms: int, busy_rate: float,
                     delivery_timeout: float = DELIVERY_TIMEOUT) -> type[driver.Transport]:
    """The worker's Faust transport: aiokafka's, with batched fetches while busy, the committed
    seek that also rewinds never-committed partitions, and a livelock check that survives a
    partition being reset."""

    deadline = StopDeadline()  # shared by the consumer, its thread and the producer

    class WorkerConsumerThread(driver.AIOKafkaConsumerThread):
        fetch_bounds = (fetch_min_bytes, fetch_max_wait_ms, busy_rate)
        batching = None
        shutdown_timeout = 2 * STOP_BUDGET  # mode's wait for this thread (default 60 s)
        stop_deadline = deadline

        async def on_thread_stop(self) -> None:
            """Stop the consumer within what is left of the stop's budget, whatever the broker
            does. A stop that fails or overruns is logged and abandoned: the process is exiting,
            and offsets not committed now are re-read after a restart (at least once, as with a
            crash).

            A stop that has not finished after LEAVE_AFTER seconds is waiting for a rebalance
            (aiokafka's close awaits the pending JoinGroup first); the member then leaves the
            group at once (`leave_group_now`), so the others need not wait for its session
            to expire."""
            stop = asyncio.ensure_future(super().on_thread_stop())
            try:
                done, _ = await asyncio.wait({stop}, timeout=LEAVE_AFTER)
                if not done:
                    await leave_group_now(self._consumer)
                await within(self.stop_deadline, stop, "consumer stop")
            except asyncio.CancelledError:
                if asyncio.current_task().cancelling():
                    raise  # this task itself is being cancelled: not ours to swallow
                logging.getLogger(__name__).warning("consumer stop interrupted (broker unreachable?)")
            except Exception as exc:  # noqa: BLE001 - anything the client raises while closing
                logging.getLogger(__name__).warning("consumer stop failed: %r", exc)

        async def _fetch_records(self, consumer, active_partitions, timeout=None, max_records=None):
            records = await super()._fetch_records(consumer, active_partitions, timeout=timeout, max_records=max_records)
            if self.batching is None:
                self.batching = FetchBatching(*self.fetch_bounds)
            fetcher = consumer._fetcher
            if fetcher is not None:  # runs in the consumer thread, like the fetcher itself
                bounds = self.batching.observe(sum(len(batch) for batch in (records or {}).values()))
                fetcher._fetch_min_bytes, fetcher._fetch_max_wait_ms = bounds
            return records

        async def seek_to_committed(self):
            """Also rewinds partitions with no committed offset (see streams/faust_ext/committed_seek.py)."""
            policy = self.app.conf.consumer_auto_offset_reset
            return await self.call_thread(seek_to_committed_or_reset, self._ensure_consumer(), policy)

        async def positions(self, tps) -> dict:
            """The fetch positions of many partitions in one call into the consumer thread (None
            where a partition has none yet). The lag gauges used to ask per partition: every 5 s
            the orchestrator crossed threads once for each of its 60 partitions, most of what
            an idle worker spent."""
            return await self.call_thread(read_positions, self._ensure_consumer(), list(tps))

        def verify_event_path(self, now, tp):
            """Faust's periodic livelock check reads each partition's position, and aiokafka asserts
            when there is none: a partition being reset (just assigned with nothing committed, or
            out of range) crashed a whole worker in the start-up test. Such a partition has no
            event path to verify yet; the next check, seconds later, looks again."""
            if not has_position(self._ensure_consumer(), tp):
                return None
            return super().verify_event_path(now, tp)

    class WorkerConsumer(driver.Consumer):
        thread_class = WorkerConsumerThread
        stop_deadline = deadline

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            # records taken by a stream and not acked, held until acked (Faust holds them weakly:
            # see `in_flight_below` for what that lost)
            self._unacked_messages = set()
            self.heads = HeadWatch(HEAD_GRACE)
            self._rewinds: set[asyncio.Task] = set()

        async def on_stop(self) -> None:
            """Faust's last commit, within the stop's budget (StopDeadline)."""
            await within(self.stop_deadline, super().on_stop(), "last commit")

        async def perform_seek(self) -> None:
            """Faust's seek to the committed offsets; the heads are known from here on."""
            await super().perform_seek()
            self.heads.confirm(self.assignment())

        async def on_partitions_revoked(self, revoked) -> None:
            self.heads.forget(revoked)
            await super().on_partitions_revoked(revoked)

        async def _add_gap(self, tp, offset_from: int, offset_to: int) -> None:
            """Off: Faust takes a jump between the offset it last sought and the next record it
            delivers for offsets missing from the log, and the records it dropped in between
            counted as done (streams/faust_ext/head_watch.py)."""

        def ack(self, message) -> bool:
            """Faust's ack; the record also leaves the in-flight set whenever it is acked (Faust
            drops it there only when it records the offset, not for a duplicate or an offset
            already committed, which a weak set forgot by itself)."""
            recorded = super().ack(message)
            if message.acked:
                self._unacked_messages.discard(message)
            return recorded

        async def wait_first(self, *coros, timeout=None):
            """Faust's drain loop hands every fetched record to the streams through
            `wait_first(deliver, suspend_flow.wait())`, so a delivery blocked on a full stream
            buffer can be abandoned when a rebalance suspends the flow. That costs four tasks and
            an `asyncio.wait` per record (37 us here, more than decoding it), and the yield
            hands a batch consumer its records one at a time. When the delivery cannot block
            (`delivery_cannot_block`), it is awaited directly; otherwise Faust's way is kept."""
            if timeout is None and len(coros) == 2 and delivery_cannot_block(self):
                deliver, suspended = coros
                if inspect.iscoroutine(suspended):
                    suspended.close()  # never started: nothing to cancel
                return WaitResults([deliver], [await deliver], False)
            return await super().wait_first(*coros, timeout=timeout)

        async def positions(self, tps) -> dict:
            return await self._thread.positions(tps)

        def _new_offset(self, tp):
            """The offset to commit for `tp`: Faust's, but never past a record still being
            processed (see `in_flight_below`), and only once the record at the committed
            offset is done; one dropped before processing is read again (`HeadWatch`)."""
            acked = self._acked[tp]
            if not acked:
                return None
            if in_flight_below(self._unacked_messages, tp, min(acked)):
                return None
            head = self._head(tp)
            lowest = head if head is not None and self._gap[tp].overlaps_point(head) else min(acked)
            verdict = self.heads.verdict(tp, head, lowest)
            if isinstance(verdict, Rewind):
                task = asyncio.ensure_future(self._rewind(verdict))
                self._rewinds.add(task)
                task.add_done_callback(self._rewinds.discard)
                return None
            if verdict == WAIT:
                return None
            return super()._new_offset(tp)

        def _head(self, tp) -> int | None:
            """The committed offset of `tp` (Faust keeps a committed 0 as None; an uncommitted
            partition was sought to 0 when the reset policy is earliest, else it is not known)."""
            committed = self._committed_offset[tp]
            if committed is not None:
                return committed
            return 0 if self.app.conf.consumer_auto_offset_reset == "earliest" else None

        async def _rewind(self, rewind: Rewind) -> None:
            """Read the partition again from its dropped head; a head retention deleted is
            skipped to the log start (nothing there to process)."""
            tp, offset = rewind.tp, rewind.offset
            if tp not in self.assignment():
                return
            try:
                start = (await self.earliest_offsets(tp)).get(tp)
            except Exception as exc:  # noqa: BLE001 - broker unreachable: the next period tries again
                _log.warning("%s[%d]: log start not known (%r); not read again yet", tp.topic, tp.partition, exc)
                return
            if start is not None and offset < start:
                self._gap[tp].addi(offset, start)
                _log.warning("%s[%d]: offsets %d-%d were deleted by retention before they were processed",
                             tp.topic, tp.partition, offset, start - 1)
                return
            _log.warning("%s[%d]: record %d was dropped before it was processed; reading the partition "
                         "again from it", tp.topic, tp.partition, offset)
            await self.seek(tp, offset)

        def _new_consumer_thread(self):
            return self.thread_class(self, loop=self.loop, beacon=self.beacon)

    class BudgetedProducer(WorkerProducer):
        stop_deadline = deadline
        delivery_seconds = delivery_timeout

    class WorkerTransport(driver.Transport):
        Consumer = WorkerConsumer
        Producer = BudgetedProducer

    return WorkerTransport


class WorkerProducer(driver.Producer):
    """Faust's aiokafka producer, whose flush and stop at shutdown keep to the stop's budget: both
    wait for every buffered record otherwise (Faust's app flushes the producer when it stops,
    then aiokafka's producer stop flushes again), which with the broker down took 20 minutes.

    It also tells apart the two limits aiokafka takes from one `request_timeout_ms`, as the Java
    client does (request.timeout.ms, delivery.timeout.ms): each request (metadata, handshake,
    produce) gets Faust's `producer_request_timeout`, short, so one unanswered metadata request
    no longer freezes the producer's view of the cluster; a record keeps being retried for
    `delivery_seconds` (20 minutes by default), long, so a broker fail-over (leaders move,
    ~15-30 s) never fails a send.
    A send that failed would be retried by an agent, but a table's changelog write is Faust's
    own and is not: the table would then commit state its changelog never received."""

    stop_deadline: StopDeadline  # set by worker_transport: one budget for the whole stop
    delivery_seconds: float = DELIVERY_TIMEOUT  # a record's time to live (worker_transport sets the worker's)
    _tracked: frozenset = frozenset()   # the topics this producer's metadata is told to keep

    async def send(self, topic, *args, **kwargs):
        """Faust's send, after making sure the producer's metadata keeps `topic` (see below)."""
        if topic not in self._tracked:
            self.track_topic(topic)
        return await super().send(topic, *args, **kwargs)

    def track_topic(self, topic: str) -> None:
        """Make every later metadata request of the producer ask for `topic`.

        aiokafka tracks a topic only when a send finds it missing from the metadata it holds.
        Faust refreshes that metadata after declaring each topic at start, while no topic is
        tracked, and such a refresh lists every topic of the cluster, so the first sends to
        those topics never add them; once any topic is tracked, each refresh asks for the
        tracked ones only and replaces the metadata with the answer, dropping the others. A
        record of a dropped topic waiting in the accumulator (linger) then has no leader, and
        the refreshes it triggers never ask for its topic: it waited until the worker stopped
        (the chaos test's stall: `model.download.requested.v1[3]` with no leader for 20 s while
        refreshes kept coming back without it, bench/RESULTS.md, session 16)."""
        self._tracked = self._tracked | {topic}
        self._ensure_producer().client.add_topic(topic)  # a refresh if it was not tracked yet

    def key_partition(self, topic: str, key: bytes) -> TP:
        """The partition of `key` in `topic`; for a table's changelog, from the key alone.

        Faust's web router asks this for the table's changelog topic to find which worker holds a
        run (GET /runs/{id}), and aiokafka answers from the producer's metadata, which, now that
        it keeps only the topics this producer sends to (track_topic), lacks the changelog of a
        worker that has not written its table yet: the router raised `TypeError: 'NoneType' object
        is not iterable` (a 500 in CI). The table's own partitioner needs no metadata and is the
        one its writes use (streams/worker/tables.py)."""
        partition_for_key = getattr(tables_by_changelog(self.app).get(topic), "partition_for_key", None)
        if partition_for_key is not None:
            return TP(topic, partition_for_key(key))
        return super().key_partition(topic, key)

    def _new_producer(self, transactional_id=None):
        producer = super()._new_producer(transactional_id)
        # aiokafka's batch time-to-live: a batch expires (fails its records) only after it; the
        # locked aiokafka has no setting for it (pinned in tests/unit/faust_ext/test_transport.py)
        producer._message_accumulator._batch_ttl = self.delivery_seconds
        return producer

    async def flush(self) -> None:
        """Faust's flush; bounded once the app is stopping (a flush while running is not)."""
        if not self.app.should_stop:
            return await super().flush()
        await within(self.stop_deadline, super().flush(), "producer flush")

    async def on_stop(self) -> None:
        producer = self._producer
        if not await within(self.stop_deadline, super().on_stop(), "producer stop"):
            sender = getattr(getattr(producer, "_sender", None), "sender_task", None)
            if sender is not None:
                sender.cancel()  # it would retry the dropped records until the loop closes


def in_flight_below(unacked, tp, offset: int) -> bool:
    """Whether a record of `tp` below `offset` was handed to a stream and is not acked yet.

    Faust commits the first run of consecutive acked offsets and checks the head only against
    the committed offset, loosely: not at all while nothing was committed (or 0 was:
    `if committed_offset:`), and with a tolerance of one (`min(acked) - committed > 1`), which
    lets it step over a record missing from the log, and equally over one still in processing.
    A stage agent handles several requests at once (concurrency), so request N+1 is often acked
    while N still runs: Faust then commits N+2, and if this worker dies (or is cut off) before N
    is answered, the partition's next owner starts after N, which is never processed: the
    record stranded across a rebalance that issue 18 names, healed only by the step's queue
    timeout. The unacked set is Faust's own (`Consumer._unacked_messages`: records taken by a
    stream, not acked), made a strong set by the worker's consumer: Faust keeps it weakly, so a
    record whose handler was cancelled vanished from it. That is every request still waiting
    for a pool process when a worker stops: Faust stops the agents (cancelling their handlers)
    before the consumer, whose last commit then stepped over the head request by the tolerance
    of one. The next owner started after it and nobody ran it until the queue timeout (issue 18,
    the churn test: 3 to 13 of 300 requests in 3 of 10 runs). Held strongly, a cancelled record
    stops that commit; the next owner reads it again."""
    return any(m.tp == tp and m.offset < offset and not m.acked for m in list(unacked))


async def leave_group_now(consumer) -> bool:
    """Send LeaveGroup for this member now, best effort (LEAVE_TIMEOUT); True when the broker
    accepted it.

    Why: a worker told to stop while its group rebalances never left the group. aiokafka's close
    first awaits its coordination task, which waits for the JoinGroup answer, which the broker
    holds until every member has joined; our stop gives up after STOP_BUDGET, and
    aiokafka sends LeaveGroup only after that wait, and only for a member with a generation (a
    worker stopped during its first join has none). The group then waited for the member's
    session to expire, and workers joining and leaving every few seconds chained those waits
    into a 34 s pause of the whole pipeline (tests/integration/test_admission.py, issue 18).
    The broker takes LeaveGroup from any member id it knows, generation or not, and completes
    the rebalance without it. `consumer` is the aiokafka consumer (its own event loop)."""
    coordinator = getattr(consumer, "_coordinator", None) if consumer is not None else None
    member = getattr(coordinator, "member_id", None)
    if coordinator is None or not member or member == JoinGroupRequest.UNKNOWN_MEMBER_ID:
        return False  # never joined: the broker has no member to wait for
    node = coordinator.coordinator_id
    if node is None:
        return False
    try:
        # not on the coordination connection: the broker answers a connection's requests in
        # order, and that one is parked behind our pending JoinGroup
        request = LeaveGroupRequest(coordinator.group_id, member)
        response = await asyncio.wait_for(consumer._client.send(node, request, group=ConnectionGroup.DEFAULT),
                                          LEAVE_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - best effort while exiting (a timeout included)
        logging.getLogger(__name__).warning("LeaveGroup while stopping failed: %r", exc)
        return False
    if response.error_code:
        logging.getLogger(__name__).warning("LeaveGroup while stopping refused: error %d", response.error_code)
        return False
    logging.getLogger(__name__).info("left the consumer group while it was rebalancing (member %s)", member)
    return True


def delivery_cannot_block(consumer) -> bool:
    """Whether handing a fetched record to the streams completes without waiting: Faust's
    delivery (faust/transport/conductor.py) waits only while the flow is suspended (a
    rebalance), while the producer buffer is over its limit, while its callback map is being
    rebuilt, or when a stream's buffer is full. The event loop runs one thing at a time, so
    what is true here is still true when the delivery runs."""
    app = consumer.app
    if consumer.should_stop or consumer.suspend_flow.is_set() or not app.flow_control.is_active():
        return False
    buffer = app.producer.buffer
    if buffer.size > buffer.max_messages:
        return False
    conductor = app.topics
    if conductor._tp_to_callback_lock.locked():
        return False
    return not any(channel.queue.full() for channel in conductor._topics)


async def read_positions(consumer, tps) -> dict:
    """{tp: position or None} from aiokafka's subscription state, without waiting for a reset
    (runs in the consumer thread, where that state lives)."""
    states = {tp: _partition_state(consumer, tp) for tp in tps}
    return {tp: state.position if state is not None and state.has_valid_position else None
            for tp, state in states.items()}


def has_position(consumer, tp) -> bool:
    """Whether the aiokafka consumer has a fetch position for `tp` (False while it is reset)."""
    state = _partition_state(consumer, tp)
    return state is not None and state.has_valid_position


def _partition_state(consumer, tp):
    """aiokafka's state of an assigned partition (None when it is not assigned)."""
    subscription = consumer._subscription.subscription
    assignment = subscription.assignment if subscription is not None else None
    key = TopicPartition(tp.topic, tp.partition)
    return assignment.state_value(key) if assignment is not None and key in assignment.tps else None
