"""CLI behaviour against the real broker: `subscribe` waits for a topic that does not exist yet."""
from __future__ import annotations

import threading
import time
import uuid

import pytest
from confluent_kafka.admin import AdminClient, NewTopic

from meshstream.commands.subscribe import wait_for_topics

pytestmark = pytest.mark.integration


def test_wait_for_topics_returns_once_the_topic_is_created(settings):
    topic = f"test-late-topic-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    told: list[set] = []

    def create_later():
        time.sleep(2)
        admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])[topic].result(30)

    t = threading.Thread(target=create_later)
    start = time.monotonic()
    t.start()
    try:
        wait_for_topics(settings.kafka_bootstrap, {topic}, timeout=60, on_wait=told.append, poll=0.5)
    finally:
        t.join()
        admin.delete_topics([topic])
    assert told == [{topic}]
    assert time.monotonic() - start >= 2


def test_wait_for_topics_times_out_with_the_names(settings):
    topic = f"test-never-{uuid.uuid4().hex[:8]}"
    with pytest.raises(TimeoutError, match=topic):
        wait_for_topics(settings.kafka_bootstrap, {topic}, timeout=1, poll=0.5)
