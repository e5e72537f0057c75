"""The worker's producer keeps the metadata of every topic it sends to (streams/faust_ext/transport.py,
WorkerProducer.track_topic), against a real broker.

aiokafka's own producer does not: Faust refreshes its metadata after declaring each topic at start,
while it tracks no topic, and such a refresh lists every topic of the cluster; a first send to a
topic found there does not track it, and the first refresh after any other topic is tracked
drops it. A record of that topic still waiting to be sent then has no leader, and no refresh
ever asks for its topic again: the 3-broker chaos test's worker stalled that way."""
from __future__ import annotations

import asyncio
import uuid

import pytest
from aiokafka import AIOKafkaProducer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic

from streams.core.security import kafka_client_config
from streams.core.settings import Settings
from streams.worker.app import create_app

pytestmark = pytest.mark.integration


def _new_topics(settings, n: int) -> list[str]:
    admin = AdminClient(kafka_client_config(settings))
    names = [f"metadata-test-{uuid.uuid4().hex[:8]}" for _ in range(n)]
    for fut in admin.create_topics([NewTopic(t, 2, 1) for t in names]).values():
        fut.result(30)
    return names


async def _send_then_track_another(send, client, first: str, second: str) -> object:
    """Refresh while no topic is tracked (as Faust does after declaring a topic at start), send
    to `first`, then make the producer track `second` and refresh: what the producer's metadata
    then says about `first`'s leader."""
    await client.force_metadata_update()
    assert first in client.cluster.topics()
    await send(first)
    await client.add_topic(second)
    await client.force_metadata_update()
    return client.cluster.leader_for_partition(TopicPartition(first, 0))


def test_aiokafka_alone_forgets_a_topic_it_sent_to_and_the_worker_producer_does_not(settings: Settings, stack_env, tmp_path):
    existing, other, later = _new_topics(settings, 3)

    async def plain() -> object:
        producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
        await producer.start()
        try:
            return await _send_then_track_another(lambda t: producer.send_and_wait(t, b"v", key=b"k"),
                                                  producer.client, existing, other)
        finally:
            await producer.stop()

    async def worker() -> object:
        app, _ = create_app(Settings.from_env({**stack_env, "MESHSTREAM_DATA_DIR": str(tmp_path)}),
                            stages={"orchestrator"})
        producer = app.producer
        await producer.start()
        try:
            async def send(topic):
                await (await producer.send(topic, b"k", b"v", None, None, None))
            return await _send_then_track_another(send, producer._producer.client, existing, later)
        finally:
            await producer.stop()

    assert asyncio.run(plain()) is None        # the bug the worker's producer works around
    assert asyncio.run(worker()) is not None   # still knows the leader of what it sent to
