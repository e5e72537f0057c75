"""The TypeScript client (clients/typescript) on the real stack, next to the Python workers.

A Node process publishes a scan with the TS Publisher, the session's Python worker processes it,
and the TS subscriber receives every terminal event; records cross the language boundary in both
directions and are compared byte for byte (magic byte 0, 4-byte schema id, Avro body); keyed
records land on the partitions the Python producer picks; a listing that breaks an Etsy limit is
refused before the client ever connects to a broker.
"""
from __future__ import annotations

import time
import uuid

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from meshstream_client import Publisher as ClientPublisher, Settings as ClientSettings

from processors.samples import sample_models
from registry.manifest import default_manifest
from registry.serde import AvroSerde, registry_client
from streams.client import producer_config
from streams.orchestration.workflow import default_workflow_name
from tests import tsclient
from tests.integration.helpers import scan_behind_poison, upload
from tests.integration.test_spine import _expected_models
from tests.unit.test_typescript_client import _listing

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def serde(settings):
    return AvroSerde(registry_client(settings))


def _check_python_bytes_read_by_ts(events, serde):
    """Python-written records as the TS subscriber read them: Confluent framing with the id
    Python registered, and the TS serde writes exactly the bytes it read for the record it decoded."""
    for ev in events:
        raw = bytes.fromhex(ev["valueHex"])
        contract = default_manifest().by_name(ev["contract"])
        assert raw[0] == 0 and int.from_bytes(raw[1:5], "big") == ev["schemaId"] == serde.schema_id(contract)
        assert ev["reencodedHex"] == ev["valueHex"], ev["contract"]
        assert serde.decode(raw, contract)["envelope"]["event_id"] == ev["record"]["envelope"]["event_id"]


def _raw_record(settings, topic: str, partition: int, key: str, timeout: float = 30) -> bytes:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"ts-raw-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, partition, 0)])
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error() and msg.key() == key.encode():
                return msg.value()
    finally:
        consumer.close()
    raise AssertionError(f"no record with key {key} on {topic}[{partition}]")


def test_ts_scan_processed_by_python_workers_and_terminal_events_reach_ts(settings, stack_env, s3, worker, serde):
    bucket, prefix = "models", f"ts-{uuid.uuid4().hex[:8]}/"
    samples = sample_models()
    upload(s3, bucket, {prefix + k: v for k, v in samples.items()})
    expected = _expected_models(samples)

    out = tsclient.run("scan-roundtrip", {"bucket": bucket, "prefix": prefix, "expected": expected, "timeoutMs": 180_000},
                       env=stack_env, timeout=240)

    events = out["events"]
    assert len(events) == expected, [e["record"]["payload"]["name"] for e in events]
    assert len({e["record"]["envelope"]["event_id"] for e in events}) == expected  # duplicates dropped
    completed = [e["record"]["payload"] for e in events if e["contract"] == "processing.completed"]
    failed = [e["record"]["payload"] for e in events if e["contract"] == "processing.failed"]
    cube = next(p for p in completed if "cube" in p["name"])
    assert cube["metadata"]["triangles"] == 12 and cube["metadata"]["watertight"] is True
    assert cube["metadata"]["volume"] == pytest.approx(1000.0, rel=1e-6)
    assert cube["results"] and cube["results"][0]["bucket"] == settings.results_bucket
    assert len(failed) == 1 and "corrupt" in failed[0]["name"] and failed[0]["error"]["code"]
    assert all(e["record"]["envelope"]["correlation_id"] for e in events)
    _check_python_bytes_read_by_ts(events, serde)

    # TS -> Python: the scan record as Python reads it from the broker
    contract = default_manifest().by_name("discovery-scan.requested")
    raw = _raw_record(settings, contract.topic, out["scanPartition"], out["scanId"])
    assert raw[0] == 0 and int.from_bytes(raw[1:5], "big") == serde.schema_id(contract)
    record = serde.decode(raw, contract)
    assert serde.encode(contract, record) == raw  # fastavro writes the very bytes the TS client wrote

    sent = {"scan_id": out["scanId"], "bucket": bucket, "prefix": prefix, "workflow": default_workflow_name(),
            "storage": "default", "owner_id": None, "objects_manifest": None}
    assert {k: record["payload"][k] for k in sent} == sent
    env = record["envelope"]
    assert (env["correlation_id"], env["causation_id"], env["producer"]["service"]) == (out["scanId"], None, "ts-client-test")
    uuid.UUID(env["event_id"])


def test_python_publisher_events_read_by_ts_subscriber_without_duplicates(settings, stack_env, worker, serde):
    """A Python publisher sends one scan (an empty folder) twice with the same event_id, as a
    producer retrying after a lost acknowledgement would: the TS subscriber delivers it once."""
    scan_id, event_id = str(uuid.uuid4()), str(uuid.uuid4())
    publisher = ClientPublisher(settings=ClientSettings.from_env(stack_env))  # the Python client package
    payload = {"scan_id": scan_id, "storage": "default", "bucket": "models", "prefix": f"ts-empty-{uuid.uuid4().hex[:8]}/",
               "workflow": default_workflow_name(), "owner_id": "user-42", "objects_manifest": None}
    for _ in range(2):  # each returns once the broker acknowledged the record, or raises
        publisher.publish("discovery-scan.requested", scan_id, payload, correlation_id=scan_id, event_id=event_id)
    read, stderr = tsclient.run_logged("read", {"contracts": ["discovery-scan.requested"], "scanId": scan_id,
                                                "expected": 2, "timeoutMs": 15_000}, env=stack_env, timeout=120)
    events = read["events"]
    assert len(events) == 1, {**read, "stderr": stderr[-3000:]}
    payload = events[0]["record"]["payload"]
    assert (payload["scan_id"], payload["owner_id"], payload["bucket"]) == (scan_id, "user-42", "models")
    assert events[0]["key"] == scan_id
    _check_python_bytes_read_by_ts(events, serde)


def test_ts_subscriber_skips_records_that_are_not_events_and_reads_on(settings, stack_env, worker):
    """A topic read from the beginning may hold records the pipeline dead-lettered (bad framing, an
    unknown schema id): the TS subscriber skips them, says which and why, and delivers the event
    behind them on the same partition, as the Python Subscriber does (it used to stall there)."""
    scan_id, poison = scan_behind_poison(settings, "ts-poison")
    topic = default_manifest().by_name("discovery-scan.requested").topic
    read, stderr = tsclient.run_logged("read", {"contracts": ["discovery-scan.requested"], "scanId": scan_id,
                                                "expected": 1, "timeoutMs": 30_000}, env=stack_env, timeout=120)
    assert len(read["events"]) == 1, {**read, "stderr": stderr[-3000:]}
    partition = read["events"][0]["partition"]
    assert {p for p, _ in poison} == {partition}  # the poison sits before the event on its partition
    skipped = {(s["partition"], int(s["offset"])): s["code"] for s in read["skipped"] if s["topic"] == topic}
    assert [skipped.get(at) for at in poison] == ["malformed_event", "unknown_schema_id"], read["skipped"]


def test_keyed_records_land_on_the_python_producers_partitions(settings, stack_env):
    topic = f"ts-partitioner-probe-{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap})
    admin.create_topics([NewTopic(topic, num_partitions=7, replication_factor=1)])[topic].result(30)
    try:
        keys = [str(uuid.uuid4()) for _ in range(30)] + ["a", "model-1", "ü🙂", "x" * 200]
        python: dict[str, int] = {}
        producer = Producer(producer_config(settings))
        for key in keys:
            producer.produce(topic, key=key.encode(), value=b"probe",
                             on_delivery=lambda err, msg: python.__setitem__(msg.key().decode(), msg.partition()))
        assert producer.flush(30) == 0
        node = tsclient.run("partitions", {"topic": topic, "keys": keys}, env=stack_env)
        assert node == python
        assert len(set(python.values())) > 3  # the keys really spread over the partitions
    finally:
        admin.delete_topics([topic])[topic].result(30)


def test_listing_with_141_char_title_fails_in_ts_before_the_broker(settings, stack_env, prepared):
    contract = default_manifest().by_name("etsy-listing.completed")
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"ts-wm-{uuid.uuid4()}"})

    def marks():
        return [consumer.get_watermark_offsets(TopicPartition(contract.topic, p), timeout=10)
                for p in range(contract.partitions)]
    try:
        before = marks()
        record = _listing(141)
        out = tsclient.run("publish", {"contract": contract.name, "key": record["payload"]["run_id"],
                                       "payload": record["payload"], "correlationId": str(uuid.uuid4())}, env=stack_env)
        assert out["error"]["field"] == "payload.listing.title"
        assert out["error"]["constraint"] == "maxLength"
        assert "141" in out["error"]["message"]
        assert out["connected"] is False  # refused before the producer opened a connection
        assert marks() == before  # and nothing reached the topic
    finally:
        consumer.close()


def test_ts_replays_dead_letters_onto_their_original_topic(settings, stack_env, worker, serde):
    """A record the discovery agent cannot read becomes a dead letter; the TS client lists it
    (dry run) and puts the same key and bytes back on the original topic and partition."""
    from tests.integration.test_dead_letters import _dead_letters_for

    topic = default_manifest().by_name("discovery-scan.requested").topic
    key = f"ts-garbage-{uuid.uuid4()}"
    producer = Producer(producer_config(settings))
    delivered = []
    producer.produce(topic, key=key.encode(), value=b"not avro from python",
                     on_delivery=lambda err, msg: delivered.append((msg.partition(), msg.offset())))
    assert producer.flush(10) == 0
    assert len(_dead_letters_for(settings, serde, key.encode(), 1)) == 1

    listed = tsclient.run("replay-dead-letters", {"key": key, "dryRun": True}, env=stack_env)
    assert [(d["originalTopic"], d["stage"], d["code"]) for d in listed] == [(topic, "discovery", "malformed_event")]
    assert (listed[0]["originalPartition"], listed[0]["originalOffset"]) == delivered[0]
    assert bytes.fromhex(listed[0]["originalValue"]["$bytes"]) == b"not avro from python"

    replayed = tsclient.run("replay-dead-letters", {"key": key}, env=stack_env)
    assert len(replayed) == 1
    partition, offset = delivered[0]
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": f"ts-replay-{uuid.uuid4()}",
                         "enable.auto.commit": False})
    consumer.assign([TopicPartition(topic, partition, offset + 1)])
    try:
        deadline, again = time.monotonic() + 30, None
        while again is None and time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error() and msg.key() == key.encode():
                again = msg
    finally:
        consumer.close()
    assert again is not None, "the replayed record is not on its original partition"
    assert again.value() == b"not avro from python" and again.offset() > offset
