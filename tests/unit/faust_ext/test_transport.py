"""The worker's stream consumer batches fetches while busy (streams/faust_ext/transport.py).

Faust exposes neither fetch.min.bytes nor fetch.max.wait.ms, so the consumer thread sets them on
aiokafka's fetcher between fetches; these tests pin the policy, and pin against the locked
aiokafka that its fetcher reads both attributes for every request it builds.
"""
from __future__ import annotations

import inspect

import faust
import pytest
from aiokafka.consumer.fetcher import Fetcher

from streams.worker.app import create_app
from streams.core.settings import Settings
from streams.faust_ext.transport import IDLE_MAX_WAIT_MS, IDLE_MIN_BYTES, FetchBatching

IDLE = (IDLE_MIN_BYTES, IDLE_MAX_WAIT_MS)


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_quiet_consumers_fetch_at_the_first_record_busy_ones_in_batches():
    clock = Clock()
    policy = FetchBatching(65536, 200, busy_rate=20, window=2.0, clock=clock)
    assert policy.observe(1) == IDLE            # a single record: no waiting for more
    for _ in range(10):                         # 5 records every 0.1 s = 50/s
        clock.now += 0.1
        bounds = policy.observe(5)
    assert bounds == (65536, 200)
    clock.now += 3.0                            # the burst is over: back to immediate answers
    assert policy.observe(1) == IDLE


def test_the_rate_is_over_the_window_only():
    clock = Clock()
    policy = FetchBatching(1000, 50, busy_rate=10, window=1.0, clock=clock)
    assert policy.observe(9) == IDLE            # 9/s
    clock.now += 0.5
    assert policy.observe(1) == (1000, 50)      # 10 within the last second
    clock.now += 0.6
    assert policy.observe(0) == IDLE            # the 9 left the window


def test_a_zero_rate_turns_batching_off():
    assert FetchBatching(1000, 50, busy_rate=0).observe(10_000) == IDLE


def test_aiokafka_reads_the_bounds_for_every_fetch_request():
    source = inspect.getsource(Fetcher._fetch_requests_routine) + inspect.getsource(Fetcher._get_actions_per_node)
    assert "self._fetch_max_wait_ms" in source and "self._fetch_min_bytes" in source
    assert "self._fetch_min_bytes = fetch_min_bytes" in inspect.getsource(Fetcher.__init__)


def test_the_worker_app_uses_the_worker_consumer_with_the_settings(tmp_path):
    settings = Settings.from_env({"MESHSTREAM_FETCH_MIN_BYTES": "2048", "MESHSTREAM_FETCH_MAX_WAIT_MS": "25",
                                  "MESHSTREAM_FETCH_BUSY_RATE": "7", "MESHSTREAM_DATA_DIR": str(tmp_path)})
    app, _ = create_app(settings, stages={"orchestrator"})
    thread = app.consumer._thread
    assert type(thread).__name__ == "WorkerConsumerThread"
    assert thread.fetch_bounds == (2048, 25, 7.0)


def test_a_plain_faust_app_is_untouched():
    app = faust.App("transport-test", broker="kafka://127.0.0.1:1", autodiscover=False)
    assert type(app.consumer._thread).__name__ == "AIOKafkaConsumerThread"


def test_positions_are_read_for_many_partitions_at_once_without_waiting_for_a_reset():
    """The lag gauges read every partition's position in one call into the consumer thread; a
    partition still being reset reads None instead of waiting, one not assigned reads None."""
    import asyncio
    from types import SimpleNamespace

    from aiokafka import TopicPartition
    from aiokafka.consumer.subscription_state import SubscriptionState
    from faust.types import TP

    from streams.faust_ext.transport import read_positions

    async def read():
        state = SubscriptionState()
        state.assign_from_user({TopicPartition("t", 0), TopicPartition("t", 1)})
        state.subscription.assignment.state_value(TopicPartition("t", 0)).reset_to(42)
        consumer = SimpleNamespace(_subscription=state)
        return await read_positions(consumer, [TP("t", 0), TP("t", 1), TP("other", 0)])

    assert asyncio.run(read()) == {TP("t", 0): 42, TP("t", 1): None, TP("other", 0): None}


# -- handing fetched records to the streams ------------------------------------------------------

def test_faust_hands_records_over_through_wait_first_and_blocks_only_where_the_check_looks():
    """Pins the locked Faust: its drain loop is the consumer's one caller of wait_first, and a
    record's delivery waits only on flow control, the producer buffer, the callback-map lock or
    a full stream buffer (what `delivery_cannot_block` checks)."""
    from pathlib import Path

    from faust.transport import conductor, consumer

    drain = inspect.getsource(consumer.Consumer._drain_messages)
    assert "self.wait_first(\n                                callback(message), self.suspend_flow.wait()\n" in drain
    assert inspect.getsource(consumer).count("wait_first(") == 1
    assert "async with self._tp_to_callback_lock:" in inspect.getsource(conductor.Conductor._compile_message_handler)
    # the per-partition handler, in Python and in the Cython build the wheel ships (and uses)
    python_handler = inspect.getsource(conductor.ConductorCompiler.build)
    cython_handler = (Path(conductor.__file__).parent / "_cython" / "conductor.pyx").read_text()
    for handler in (python_handler, cython_handler):
        assert "acquire_flow_control()" in handler and "wait_until_producer_ebb()" in handler
        assert "queue.full()" in handler and "put_nowait_enhanced(" in handler


def _worker_app(tmp_path):
    settings = Settings.from_env({"MESHSTREAM_DATA_DIR": str(tmp_path)})
    app, _ = create_app(settings, stages={"orchestrator"})
    return app


def test_delivery_cannot_block_only_while_nothing_it_could_wait_on_is_in_the_way(tmp_path):
    import asyncio

    from streams.faust_ext.transport import delivery_cannot_block

    async def scenario():
        app = _worker_app(tmp_path)
        consumer = app.consumer
        assert not delivery_cannot_block(consumer)        # flow control starts suspended
        app.flow_control.resume()
        assert delivery_cannot_block(consumer)
        channel = app.topic("transport-test")
        channel.maxsize = 1                                # read when its buffer is made
        app.topics.add(channel)
        await channel.queue.put("event")                   # a stream's buffer is full
        assert not delivery_cannot_block(consumer)
        channel.queue.get_nowait()
        assert delivery_cannot_block(consumer)
        consumer.suspend_flow.set()                        # a rebalance began
        assert not delivery_cannot_block(consumer)

    asyncio.run(scenario())


def test_wait_first_awaits_a_delivery_that_cannot_block_and_keeps_fausts_way_otherwise(tmp_path):
    import asyncio

    async def scenario():
        app = _worker_app(tmp_path)
        consumer, delivered = app.consumer, []

        async def deliver(n):
            delivered.append((n, asyncio.current_task() is caller))  # run in the caller's task?
            return n

        caller = asyncio.current_task()
        app.flow_control.resume()
        direct = await consumer.wait_first(deliver(1), consumer.suspend_flow.wait())
        assert direct.results == [1] and not direct.stopped
        app.flow_control.suspend()                         # Faust's wait_first, with its tasks
        await consumer.wait_first(deliver(2), consumer.suspend_flow.wait())
        assert delivered == [(1, True), (2, False)]

    asyncio.run(scenario())


def _consumer_at(tmp_path, topic: str, committed):
    """A worker app's consumer whose streams ack `topic`[0], committed at `committed` (call it
    inside the event loop)."""
    from faust.types import TP

    app = _worker_app(tmp_path)
    tp = TP(topic, 0)
    app.topics._acking_topics.add(tp.topic)
    app.consumer._committed_offset[tp] = committed
    return app.consumer, tp


def _record(tp, offset: int):
    from faust.types import Message

    return Message(tp.topic, tp.partition, offset, 0.0, 0, None, b"k", b"v", None, tp=tp)


def test_offsets_are_never_committed_past_a_record_still_being_processed(tmp_path):
    """Request 0 still runs on one actor while request 1, on another, is answered: Faust's own
    rule committed 2 (nothing committed yet: no head check), and a worker killed then left
    request 0 to no one. Committing stops before the record in processing, whatever was
    committed before (None, 0 or a later offset, where Faust tolerates one missing record)."""
    import asyncio

    async def scenario():
        consumer, tp = _consumer_at(tmp_path, "transport-acks", None)
        consumer.heads.confirm({tp})
        for committed in (None, 0, 10):
            base = committed or 0
            consumer._committed_offset[tp] = committed
            head, next_one = _record(tp, base), _record(tp, base + 1)
            consumer.track_message(head)
            consumer.track_message(next_one)
            assert consumer.ack(next_one)
            assert consumer._new_offset(tp) is None, committed   # head still in processing
            assert consumer.ack(head)
            assert consumer._new_offset(tp) == base + 2, committed

    asyncio.run(scenario())


def test_a_record_whose_handler_was_cancelled_still_stops_the_commit(tmp_path):
    """A worker stopping cancels its agents before its consumer's last commit: a request still
    waiting for a pool process loses its last reference while a later one was answered. Faust
    forgot the cancelled one (a weak set) and committed past it, leaving it to no one."""
    import asyncio
    import gc

    async def scenario():
        consumer, tp = _consumer_at(tmp_path, "transport-cancelled", 10)
        consumer.heads.confirm({tp})
        waiting, answered = _record(tp, 10), _record(tp, 11)
        consumer.track_message(waiting)
        consumer.track_message(answered)
        assert consumer.ack(answered)
        del waiting  # its handler was cancelled: nothing refers to the record any more
        gc.collect()
        assert consumer._new_offset(tp) is None
        assert consumer._unacked_messages == {m for m in consumer._unacked_messages if m.offset == 10}

    asyncio.run(scenario())


def test_acked_records_leave_the_in_flight_set_even_when_their_offset_is_not_recorded(tmp_path):
    """A record read again after a rebalance, below the committed offset: acked, not recorded
    (already committed), and it must not stay in the in-flight set for ever."""
    import asyncio

    async def scenario():
        consumer, tp = _consumer_at(tmp_path, "transport-again", 10)
        again = _record(tp, 5)
        consumer.track_message(again)
        assert not consumer.ack(again)
        assert again not in consumer._unacked_messages

    asyncio.run(scenario())


def _acked(consumer, tp, *offsets):
    for offset in offsets:
        message = _record(tp, offset)
        consumer.track_message(message)
        assert consumer.ack(message)


def test_nothing_is_committed_past_a_head_that_was_dropped_before_processing(tmp_path):
    """The churn test's loss: records fetched after the seek that ends a rebalance were cleared
    from the stream buffer, a later one was answered, and Faust committed past them (its gap
    inference took the jump from the sought offset to the next record it delivered for offsets
    missing from the log). Now: no commit past the committed offset until that record is done,
    whatever Faust's gap bookkeeping says."""
    import asyncio

    async def scenario():
        consumer, tp = _consumer_at(tmp_path, "transport-dropped", 120)
        assert consumer._new_offset(tp) is None
        _acked(consumer, tp, 120)
        assert consumer._new_offset(tp) is None          # the head of a partition not yet sought
        consumer.heads.confirm({tp})
        assert consumer._new_offset(tp) == 121           # 120 done: Faust's rule from there
        consumer._committed_offset[tp] = 121
        await consumer._add_gap(tp, 122, 135)            # what Faust's drain loop calls after the jump
        _acked(consumer, tp, 135)
        assert consumer._new_offset(tp) is None          # 121-134 were dropped, not missing from the log
        _acked(consumer, tp, *range(121, 135))           # read again and answered
        assert consumer._new_offset(tp) == 136

    asyncio.run(scenario())


def test_a_head_missing_for_the_grace_period_is_read_again_once_per_period():
    from streams.faust_ext.head_watch import COMMIT, WAIT, HeadWatch, Rewind

    clock = Clock()
    heads = HeadWatch(grace=5.0, clock=clock)
    assert heads.verdict("tp", 10, lowest_acked=11) == WAIT     # not sought yet
    heads.confirm({"tp"})
    assert heads.verdict("tp", 10, lowest_acked=10) == COMMIT
    assert heads.verdict("tp", 10, lowest_acked=12) == WAIT     # first seen missing
    clock.now += 4.9
    assert heads.verdict("tp", 10, lowest_acked=12) == WAIT
    clock.now += 0.2
    assert heads.verdict("tp", 10, lowest_acked=12) == Rewind("tp", 10)
    assert heads.verdict("tp", 10, lowest_acked=12) == WAIT     # read again: give it a period
    clock.now += 5.1
    assert heads.verdict("tp", 10, lowest_acked=12) == Rewind("tp", 10)
    heads.forget({"tp"})                                        # revoked: the next seek re-reads it
    assert heads.verdict("tp", 10, lowest_acked=12) == WAIT
    heads.confirm({"tp"})
    assert heads.verdict("tp", 11, lowest_acked=12) == WAIT     # a new head starts a new period


def test_a_dropped_head_is_read_again_and_one_retention_deleted_is_skipped(tmp_path):
    """The rewind asks the broker where the log starts (stubbed here: the real path runs in the
    churn test): a head still in the log is sought again, one below the log start is skipped."""
    import asyncio

    from streams.faust_ext.head_watch import Rewind

    async def scenario():
        consumer, tp = _consumer_at(tmp_path, "transport-rewind", 50)
        sought, start = [], {tp: 0}

        async def earliest_offsets(*tps):
            return {t: start[t] for t in tps}

        async def seek(partition, offset):
            sought.append((partition, offset))

        consumer.assignment = lambda: {tp}
        consumer.earliest_offsets, consumer.seek = earliest_offsets, seek
        consumer.heads.confirm({tp})
        _acked(consumer, tp, 60)
        await consumer._rewind(Rewind(tp, 50))
        assert sought == [(tp, 50)] and consumer._new_offset(tp) is None
        start[tp] = 60                                   # retention deleted 50-59
        await consumer._rewind(Rewind(tp, 50))
        assert sought == [(tp, 50)]
        assert consumer._new_offset(tp) == 61

    asyncio.run(scenario())


def test_resuming_the_flow_keeps_what_the_streams_received_and_clears_the_rest(tmp_path):
    """Faust seeks the stream partitions, then resumes the flow, which cleared every buffer:
    records delivered in between were lost (streams/faust_ext/flow.py). Stream buffers now keep
    them; other managed buffers (the tables' changelog queue) are still cleared."""
    import asyncio

    async def scenario():
        app = _worker_app(tmp_path)
        channel = app.topic("flow-test")
        app.topics.add(channel)
        other = app.FlowControlQueue(maxsize=10, clear_on_resume=True)
        app.flow_control.resume()
        channel.queue.put_nowait("request 130")
        other.put_nowait("changelog record")
        app.flow_control.resume()          # the second resume that ends table recovery
        assert channel.queue.get_nowait() == "request 130"
        assert other.empty()
        app.flow_control.suspend()
        channel.queue.put_nowait("request 131")
        app.flow_control.clear()           # a revocation still clears everything
        assert channel.queue.empty()

    asyncio.run(scenario())


def test_the_worker_app_bounds_its_producers_stop(tmp_path):
    """A busy worker's stop with the broker down waited for buffered records to expire (20 min);
    the worker's producer keeps to the stop's budget, shared with its consumer (the behaviour itself:
    tests/integration/test_worker_stop_broker_down.py)."""
    from streams.faust_ext.transport import WorkerProducer

    app, _ = create_app(Settings.from_env({"MESHSTREAM_DATA_DIR": str(tmp_path)}), stages={"orchestrator"})
    assert isinstance(app.producer, WorkerProducer)
    assert app.producer.stop_deadline is app.consumer.stop_deadline is app.consumer._thread.stop_deadline


def test_the_stop_budget_is_shared_by_every_step_and_each_still_gets_the_floor():
    from streams.faust_ext.transport import STEP_FLOOR, StopDeadline

    clock = Clock()
    deadline = StopDeadline(6.0, clock=clock)
    assert deadline.remaining() == 6.0      # the first step starts the clock
    clock.now += 5.0
    assert deadline.remaining() == 1.0      # the next gets what is left
    clock.now += 4.0
    assert deadline.remaining() == STEP_FLOOR


def test_a_step_over_the_budget_is_abandoned_and_cancelled_one_within_it_returns():
    import asyncio

    from streams.faust_ext.transport import StopDeadline, within

    async def scenario():
        deadline = StopDeadline(0.2)
        assert await within(deadline, asyncio.sleep(0.01), "quick") is True
        hung = asyncio.ensure_future(asyncio.sleep(60))
        t0 = asyncio.get_running_loop().time()
        assert await within(deadline, hung, "hung") is False
        took = asyncio.get_running_loop().time() - t0
        await asyncio.sleep(0)
        return hung.cancelled(), took

    cancelled, took = asyncio.run(scenario())
    assert cancelled and took < 1.0


def test_aiokafka_producer_stop_flushes_unbounded_through_the_sender_task_it_cancels():
    """Pins what WorkerProducer.on_stop relies on in the locked aiokafka."""
    from aiokafka import AIOKafkaProducer
    from aiokafka.producer.sender import Sender

    assert "await self._producer_flush(" in inspect.getsource(faust.App.on_stop)  # the app's flush at stop
    source = inspect.getsource(AIOKafkaProducer.stop)
    assert "self._message_accumulator.close()" in source and "self._sender.sender_task" in source
    assert isinstance(Sender.sender_task, property)
    assert "self._fail_all" in inspect.getsource(Sender.start)  # a cancelled sender fails what it held


@pytest.mark.parametrize("env, request_s, delivery_s", [({}, 30.0, 1200.0),
                                                      ({"MESHSTREAM_PRODUCER_REQUEST_TIMEOUT": "10",
                                                        "MESHSTREAM_PRODUCER_DELIVERY_TIMEOUT": "90"}, 10.0, 90.0)])
def test_a_record_outlives_a_request_timeout_and_expires_only_after_the_delivery_timeout(tmp_path, env, request_s,
                                                                                         delivery_s):
    """Each request of the producer gives up after the request timeout (a metadata request that
    gets no answer is sent again), while a record waiting for its partition's leader is kept for
    the delivery timeout: with one limit for both, a fail-over longer than 30 s failed sends and a
    table's changelog write was lost (the broker chaos test). Both are the worker's settings."""
    import asyncio

    from aiokafka import TopicPartition

    app, _ = create_app(Settings.from_env({"MESHSTREAM_DATA_DIR": str(tmp_path), **env}), stages={"orchestrator"})

    async def scenario():
        producer = app.producer._new_producer()   # not started: nothing is sent anywhere
        try:
            tp = TopicPartition("t", 0)
            await producer._message_accumulator.add_message(tp, b"k", b"v", timeout=1.0)
            batch = producer._message_accumulator._batches[tp][0]
            batch._ctime -= request_s + 1.0       # the batch's age, as aiokafka measures it
            outlived_request = not batch.expired()
            batch._ctime -= delivery_s - request_s
            return producer.client._request_timeout_ms, outlived_request, batch.expired()
        finally:
            await producer.stop()

    assert asyncio.run(scenario()) == (request_s * 1000, True, True)


def test_a_delivery_timeout_shorter_than_a_request_is_refused_by_name(tmp_path):
    env = {"MESHSTREAM_DATA_DIR": str(tmp_path), "MESHSTREAM_PRODUCER_REQUEST_TIMEOUT": "30",
           "MESHSTREAM_PRODUCER_DELIVERY_TIMEOUT": "20"}
    with pytest.raises(ValueError, match="MESHSTREAM_PRODUCER_DELIVERY_TIMEOUT=20 s is shorter"):
        create_app(Settings.from_env(env), stages={"orchestrator"})


def test_a_tables_key_is_routed_without_the_producers_metadata(tmp_path):
    """The web router finds a run's worker through `producer.key_partition(changelog, key)`; the
    worker's producer answers for a table's changelog from the key (streams/worker/tables.py),
    with no metadata at all: here the producer is not even started."""
    from streams.worker.tables import key_partition

    app, _ = create_app(Settings.from_env({"MESHSTREAM_DATA_DIR": str(tmp_path)}), stages={"orchestrator"})
    table = app.tables["workflow-runs"]
    changelog = table.changelog_topic.get_topic_name()
    keys = [f"run-{i}".encode() for i in range(50)]
    routed = [app.producer.key_partition(changelog, k) for k in keys]
    assert {tp.topic for tp in routed} == {changelog}
    assert [tp.partition for tp in routed] == [key_partition(k, table.partitions) for k in keys]
    assert len({tp.partition for tp in routed}) > 1
