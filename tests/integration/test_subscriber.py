"""The Python Subscriber (streams/client/pubsub.py) on the real broker and registry: records that are not
events are skipped and named, an unreachable registry is waited out instead of skipping good
events, and a group's committed offset never passes an event the caller did not handle."""
from __future__ import annotations

import dataclasses
import uuid

import pytest
from confluent_kafka import Consumer, TopicPartition

from registry.manifest import default_manifest
from streams.client import Subscriber
from tests.integration.helpers import scan_behind_poison

pytestmark = pytest.mark.integration

CONTRACT = "discovery-scan.requested"


def _mine(sub: Subscriber, scan_id: str, timeout: float) -> list:
    found = []
    for ev in sub.events(timeout=timeout):
        if ev.payload["scan_id"] == scan_id:
            found.append(ev)
            break
    return found


def test_records_that_are_not_events_are_skipped_and_the_event_behind_them_arrives(settings, prepared):
    scan_id, poison = scan_behind_poison(settings, "sub")
    sub = Subscriber([CONTRACT], settings=settings, from_beginning=True)
    try:
        found = _mine(sub, scan_id, timeout=60)
    finally:
        sub.close()
    assert len(found) == 1 and found[0].partition == poison[0][0]
    assert found[0].offset > poison[1][1]
    assert sub.skipped >= 2


def _group_starting_at(settings, topic: str, partition: int, offset: int) -> str:
    """A consumer group whose committed offsets are `offset` on `partition` and the end of every
    other partition of `topic`: a subscriber in it reads exactly from there."""
    group = f"subscriber-test-{uuid.uuid4()}"
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        offsets = [TopicPartition(topic, p, offset if p == partition else consumer.get_watermark_offsets(
            TopicPartition(topic, p), timeout=30)[1]) for p in partitions]
        consumer.commit(offsets=offsets, asynchronous=False)
    finally:
        consumer.close()
    return group


def test_an_unreachable_registry_skips_nothing_and_commits_nothing_past_the_event(settings, prepared):
    scan_id, poison = scan_behind_poison(settings, "sub")
    (partition, first), (_, needs_registry) = poison
    group = _group_starting_at(settings, default_manifest().by_name(CONTRACT).topic, partition, first)
    blind = Subscriber([CONTRACT], settings=dataclasses.replace(settings, registry_url="http://127.0.0.1:9/apis/ccompat/v7"),
                       group_id=group, from_beginning=True)
    try:
        assert _mine(blind, scan_id, timeout=10) == []  # the registry is needed to decode it
        assert blind.skipped == 1  # the bad framing needs no registry; the rest waits for it
    finally:
        blind.close()  # commits what it stored: nothing past the first record it could not decode
    sub = Subscriber([CONTRACT], settings=settings, group_id=group)
    try:
        found = _mine(sub, scan_id, timeout=60)
    finally:
        sub.close()
    assert len(found) == 1 and found[0].offset > needs_registry  # the same group still gets it
    assert sub.skipped == 1  # the unknown schema id, now that the registry answers
