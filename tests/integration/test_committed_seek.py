"""The rewind Faust relies on after a rebalance drops records it had fetched, on a real broker:
partitions without a committed offset go back to the reset policy's position (streams/committed_seek.py)."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from confluent_kafka.admin import AdminClient, NewTopic

from streams.committed_seek import seek_to_committed_or_reset

pytestmark = pytest.mark.integration


def test_partitions_without_a_committed_offset_are_rewound_to_the_reset_policy(settings):
    topic = f"rewind-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    admin.create_topics([NewTopic(topic, 3, 1)])[topic].result(30)
    never, zero, one = (TopicPartition(topic, p) for p in range(3))

    async def scenario():
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
        await producer.start()
        for tp in (never, zero, one):
            for i in range(2):
                await producer.send_and_wait(topic, f"{tp.partition}-{i}".encode(), partition=tp.partition)
        await producer.stop()

        consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=f"g-{topic}",
                                    enable_auto_commit=False, auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.subscribe([topic])
            seen = 0
            while seen < 6:  # every record taken from the consumer, as Faust's fetch does
                batch = await consumer.getmany(timeout_ms=1000)
                seen += sum(len(records) for records in batch.values())
            await consumer.commit({zero: OffsetAndMetadata(0, ""), one: OffsetAndMetadata(1, "")})

            upstream = await consumer.seek_to_committed()
            positions_upstream = {tp.partition: await consumer.position(tp) for tp in (never, zero, one)}
            committed = await seek_to_committed_or_reset(consumer, "earliest")
            positions = {tp.partition: await consumer.position(tp) for tp in (never, zero, one)}
            again: dict = {}
            for _ in range(10):  # until the five rewound records are back
                for tp, records in (await consumer.getmany(timeout_ms=1000)).items():
                    again.setdefault(tp.partition, []).extend(r.value for r in records)
                if sum(map(len, again.values())) >= 5:
                    break
            return upstream, positions_upstream, committed, positions, again
        finally:
            await consumer.stop()

    upstream, positions_upstream, committed, positions, again = asyncio.run(scenario())
    # why the helper exists: aiokafka leaves uncommitted and zero-committed partitions where they were
    assert upstream == {never: None, zero: 0, one: 1}
    assert positions_upstream == {0: 2, 1: 2, 2: 1}
    assert committed == upstream
    assert positions == {0: 0, 1: 0, 2: 1}
    assert again == {0: [b"0-0", b"0-1"], 1: [b"1-0", b"1-1"], 2: [b"2-1"]}
