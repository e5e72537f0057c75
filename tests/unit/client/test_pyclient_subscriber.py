"""The subscriber's promises that need no broker: a bounded duplicate memory, typed events built
on demand, and a broker that is down reported as BrokerUnavailable within the timeout, without
librdkafka writing to stderr."""
from __future__ import annotations

import time

import pytest

from meshstream_client import DEFAULT_GROUP, BrokerUnavailable, Received, Settings, Subscriber
from meshstream_client.dedup import DEFAULT_SIZE, SeenIds
from meshstream_client.generated import processing_v1
from registry.manifest import collect_named_types, default_manifest
from tests.unit.contracts.test_codegen import sample


def test_the_duplicate_memory_keeps_the_most_recent_ids_only():
    seen = SeenIds(3)
    assert [seen.first_time(i) for i in "abcab"] == [True, True, True, False, False]
    assert seen.first_time("d") and len(seen) == 3  # c, the least recently seen, is forgotten
    assert seen.first_time("c") and not seen.first_time("d")
    for i in range(10_000):
        seen.first_time(str(i))
    assert len(seen) == 3
    assert DEFAULT_SIZE == 100_000
    with pytest.raises(ValueError):
        SeenIds(0)


def test_a_subscriber_remembers_at_most_dedup_size_ids_and_has_a_stable_group():
    sub = Subscriber(settings=Settings(kafka_bootstrap="127.0.0.1:9"), dedup_size=5)
    try:
        assert sub._seen.size == 5 and sub.group_id == DEFAULT_GROUP == "meshstream-python-client"
    finally:
        sub.consumer.close()


def test_received_events_are_typed_on_first_access():
    contract = default_manifest().by_name("processing.completed")
    record = sample(contract.schema, collect_named_types(contract.schema))
    record["payload"]["metadata"]["triangles"] = 12
    ev = Received("processing.completed", contract.topic, 0, 7, "k", record)
    assert "event" not in ev.__dict__  # nothing typed until asked
    assert isinstance(ev.event, processing_v1.ProcessingCompleted) and ev.event is ev.event
    assert ev.payload.metadata.triangles == 12 and ev.payload.scan_id == record["payload"]["scan_id"]
    assert ev.event_id == record["envelope"]["event_id"]


def test_a_broker_that_is_down_raises_within_the_timeout_and_librdkafka_stays_quiet(capfd):
    sub = Subscriber(settings=Settings(kafka_bootstrap="127.0.0.1:9"))
    start = time.monotonic()
    with pytest.raises(BrokerUnavailable, match="127.0.0.1:9"):
        for _ in sub.events(timeout=3):
            pass
    assert 2.5 < time.monotonic() - start < 5
    sub.consumer.close()
    out, err = capfd.readouterr()
    assert "rdkafka" not in err and "FAIL" not in err, err[:500]


def test_start_must_be_earliest_or_latest():
    with pytest.raises(ValueError, match="earliest, latest"):
        Subscriber(settings=Settings(kafka_bootstrap="127.0.0.1:9"), start="beginning")
