"""The rewind Faust relies on after a rebalance drops records it had fetched, on a real broker:
partitions without a committed offset go back to the reset policy's position (streams/faust_ext/committed_seek.py)."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from confluent_kafka import TopicPartition as CkTopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.faust_ext.committed_seek import seek_to_committed_or_reset

pytestmark = pytest.mark.integration


def _new_topic(settings, prefix: str, partitions: int) -> tuple[str, AdminClient]:
    topic = f"{prefix}-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1)])[topic].result(30)
    return topic, admin


def test_partitions_without_a_committed_offset_are_rewound_to_the_reset_policy(settings):
    topic, admin = _new_topic(settings, "rewind", 4)
    never, zero, one, trimmed = (TopicPartition(topic, p) for p in range(4))

    async def scenario():
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
        await producer.start()
        for tp in (never, zero, one, trimmed):
            for i in range(2 if tp != trimmed else 3):
                await producer.send_and_wait(topic, f"{tp.partition}-{i}".encode(), partition=tp.partition)
        await producer.stop()
        # a log that no longer starts at 0 (retention): the rewind must land on its first record
        before_first = CkTopicPartition(topic, trimmed.partition, 1)
        admin.delete_records([before_first])[before_first].result(30)

        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=f"g-{topic}",
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.subscribe([topic])
            seen = 0
            while seen < 8:  # every record taken from the consumer, as Faust's fetch does
                batch = await consumer.getmany(timeout_ms=1000)
                seen += sum(len(records) for records in batch.values())
            await consumer.commit({zero: OffsetAndMetadata(0, ""), one: OffsetAndMetadata(1, "")})

            upstream = await consumer.seek_to_committed()
            positions_upstream = {tp.partition: await consumer.position(tp) for tp in (never, zero, one, trimmed)}
            committed = await seek_to_committed_or_reset(consumer, "earliest")
            positions = {tp.partition: await consumer.position(tp) for tp in (never, zero, one)}
            again: dict = {}
            for _ in range(10):  # until the seven rewound records are back
                for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                    again.setdefault(tp.partition, []).extend(r.value for r in records)
                if sum(map(len, again.values())) >= 7:
                    break
            return upstream, positions_upstream, committed, positions, again
        finally:
            await consumer.stop()

    upstream, positions_upstream, committed, positions, again = asyncio.run(scenario())
    # why the helper exists: aiokafka leaves uncommitted and zero-committed partitions where they were
    assert upstream == {never: None, zero: 0, one: 1, trimmed: None}
    assert positions_upstream == {0: 2, 1: 2, 2: 1, 3: 3}
    assert committed == upstream
    assert positions == {0: 0, 1: 0, 2: 1}
    assert again == {0: [b"0-0", b"0-1"], 1: [b"1-0", b"1-1"], 2: [b"2-1"], 3: [b"3-1", b"3-2"]}


def test_the_livelock_check_skips_a_partition_being_reset_instead_of_crashing_the_worker(settings):
    """Faust's periodic livelock check reads every assigned partition's position; aiokafka asserts
    when a partition is being reset (no position), which crashed a worker in the start-up test."""
    from aiokafka.consumer.fetcher import OffsetResetStrategy
    from faust.types import TP

    from streams.faust_ext.transport import has_position, worker_transport

    thread = worker_transport(1, 100, 0).Consumer.thread_class
    topic, _admin = _new_topic(settings, "reset", 1)
    tp = TopicPartition(topic, 0)

    async def scenario():
        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
        await consumer.start()
        try:
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            before = has_position(consumer, tp)
            consumer._fetcher.request_offset_reset([tp], OffsetResetStrategy.EARLIEST)  # as a reset does
            during = has_position(consumer, tp)
            state = consumer._subscription.subscription.assignment.state_value(tp)
            try:
                state.position
                upstream_raises = False
            except AssertionError:
                upstream_raises = True
            worker_thread = thread.__new__(thread)
            worker_thread._consumer = consumer
            verified = worker_thread.verify_event_path(0.0, TP(topic, 0))  # must not raise
            await state.wait_for_position()
            return before, during, upstream_raises, verified, has_position(consumer, tp)
        finally:
            await consumer.stop()

    before, during, upstream_raises, verified, after = asyncio.run(scenario())
    assert (before, during, after) == (True, False, True)
    assert upstream_raises, "aiokafka no longer asserts on a missing position: the guard may go"
    assert verified is None

