"""Helpers for integration tests: upload models, collect events of one scan."""
from __future__ import annotations

import io
import struct
import time
import uuid

from confluent_kafka import Consumer, Producer, TopicPartition

from registry.manifest import default_manifest
from registry.serde import SerdeError
from streams.core.security import kafka_client_config


def upload(s3, bucket: str, files: dict[str, bytes]) -> None:
    if not s3.bucket_exists(bucket):
        s3.make_bucket(bucket)
    for key, data in files.items():
        s3.put_object(bucket, key, io.BytesIO(data), len(data))


def read_topics(settings, contract_names, serde, match, expected: int, timeout: float = 120.0,
                settle: float = 3.0) -> list[tuple[str, dict]]:
    """Every (contract name, record) of the contracts' topics for which match(record) is true,
    read from the beginning with a plain consumer: raw records, duplicates included. Waits until
    `expected` have arrived, then `settle` more seconds so late duplicates would be seen too."""
    contracts = {default_manifest().by_name(n).topic: default_manifest().by_name(n) for n in contract_names}
    consumer = Consumer({**kafka_client_config(settings), "group.id": f"test-reader-{time.time_ns()}",
                         "auto.offset.reset": "earliest", "enable.auto.commit": False})
    consumer.subscribe(list(contracts))
    found: list[tuple[str, dict]] = []
    deadline = time.monotonic() + timeout
    settle_until = None
    try:
        while time.monotonic() < deadline:
            msg = consumer.poll(0.5)
            if msg is not None and not msg.error():
                contract = contracts[msg.topic()]
                record = _decoded(serde, msg, contract)
                if record is not None and match(record):
                    found.append((contract.name, record))
            if len(found) >= expected and settle_until is None:
                settle_until = time.monotonic() + settle
            if settle_until is not None and time.monotonic() > settle_until:
                break
    finally:
        consumer.close()
    return found


def read_to_end(settings, contract_names, serde, match) -> list[tuple[str, dict]]:
    """Every (contract name, record) matching `match` that the contracts' topics hold *now*: each
    partition read up to the high watermark taken at the call. Proves an absence at once (a
    replay's writes are flushed before it returns), where waiting for an event that should not
    come costs its whole timeout."""
    contracts = {default_manifest().by_name(n).topic: default_manifest().by_name(n) for n in contract_names}
    consumer = Consumer({**kafka_client_config(settings), "group.id": f"test-end-{time.time_ns()}",
                         "enable.auto.commit": False})
    found: list[tuple[str, dict]] = []
    try:
        ends = {}
        for topic in contracts:
            for p in consumer.list_topics(topic, timeout=10).topics[topic].partitions:
                low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)
                if high > low:
                    ends[(topic, p)] = (low, high)
        consumer.assign([TopicPartition(t, p, low) for (t, p), (low, _) in ends.items()])
        deadline = time.monotonic() + 60
        while ends and time.monotonic() < deadline:
            msg = consumer.poll(0.2)
            if msg is not None and not msg.error() and (msg.topic(), msg.partition()) in ends:
                record = _decoded(serde, msg, contracts[msg.topic()])
                if record is not None and match(record):
                    found.append((contracts[msg.topic()].name, record))
            # positions, not offsets seen: a transaction marker may be a partition's last offset
            for tp in consumer.position([TopicPartition(t, p) for t, p in ends]):
                if tp.offset >= ends[(tp.topic, tp.partition)][1]:
                    del ends[(tp.topic, tp.partition)]
        assert not ends, f"partitions not read to their end: {sorted(ends)}"
    finally:
        consumer.close()
    return found


def _decoded(serde, msg, contract):
    """The record, or None for one that is not a valid event of the contract: the hostile-input
    test puts such records on every topic on purpose (the pipeline dead-letters them)."""
    try:
        return serde.decode(msg.value(), contract)
    except SerdeError:
        return None


def by_scan(scan_id: str):
    return lambda record: record["payload"].get("scan_id") == scan_id


def terminal_events(settings, serde, scan_id: str, expected: int, timeout: float = 180.0, settle: float = 3.0):
    """(completed, failed) terminal records of one scan, duplicates included."""
    found = read_topics(settings, ("processing.completed", "processing.failed"), serde, by_scan(scan_id),
                        expected, timeout=timeout, settle=settle)
    return ([r for n, r in found if n == "processing.completed"], [r for n, r in found if n == "processing.failed"])


class Watcher:
    """A consumer that keeps accumulating matching records across calls (duplicates included)."""

    def __init__(self, settings, serde, contract_names, match):
        m = default_manifest()
        self.contracts = {m.by_name(n).topic: m.by_name(n) for n in contract_names}
        self.serde, self.match = serde, match
        self.records: list[tuple[str, dict]] = []
        self.consumer = Consumer({**kafka_client_config(settings),
                                  "group.id": f"test-watch-{time.time_ns()}",
                                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
        self.consumer.subscribe(list(self.contracts))

    def poll(self, seconds: float) -> int:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            msg = self.consumer.poll(0.2)
            if msg is not None and not msg.error():
                contract = self.contracts[msg.topic()]
                record = _decoded(self.serde, msg, contract)
                if record is not None and self.match(record):
                    self.records.append((contract.name, record))
        return len(self.records)

    def wait_for(self, count: int, timeout: float, settle: float = 0.0) -> int:
        end = time.monotonic() + timeout
        while len(self.records) < count and time.monotonic() < end:
            self.poll(0.5)
        if settle:
            self.poll(settle)
        return len(self.records)

    def close(self) -> None:
        self.consumer.close()


def scan_behind_poison(settings, prefix: str) -> tuple[str, list[tuple[int, int]]]:
    """Two records that are not events (bad framing, an unknown schema id), then a scan request, all
    under one key so they share a partition of discovery-scan.requested; returns the scan id and
    the poison's (partition, offset), in that order."""
    from streams.client import Publisher, producer_config
    from streams.orchestration.workflow import default_workflow_name

    scan_id = str(uuid.uuid4())
    topic = default_manifest().by_name("discovery-scan.requested").topic
    producer = Producer(producer_config(settings))
    placed = []
    for value in (b"not avro at all", struct.pack(">bI", 0, 987654) + b"\x02\x04"):
        producer.produce(topic, key=scan_id.encode(), value=value,
                         on_delivery=lambda err, msg: placed.append((err, msg.partition(), msg.offset())))
    producer.flush(30)
    assert [p[0] for p in placed] == [None, None], placed
    publisher = Publisher(settings)
    publisher.publish("discovery-scan.requested", scan_id,
                      {"scan_id": scan_id, "storage": "default", "bucket": "models", "prefix": f"{prefix}-{scan_id[:8]}/",
                       "workflow": default_workflow_name(), "owner_id": None, "objects_manifest": None},
                      correlation_id=scan_id)
    assert publisher.pending() == 0
    return scan_id, [(p, o) for _, p, o in placed]


def group_starts_at_end(settings, group: str, timeout: float = 15.0) -> int:
    """Commit the end of every existing event topic for a new consumer group, so workers started
    in it mid-session do not process the whole session's history (a new group reads from the
    earliest offset, as a new deployment must). Changelogs are left alone: tables restore from
    them, not from group offsets. Returns how many partitions were committed."""
    from confluent_kafka import TopicPartition

    config = {**kafka_client_config(settings), "group.id": group, "enable.auto.commit": False}
    consumer = Consumer(config)
    try:
        topics = consumer.list_topics(timeout=timeout).topics
        ends = []
        for name, meta in topics.items():
            if name.startswith("__") or name.endswith("-changelog"):
                continue
            for p in meta.partitions:
                ends.append(TopicPartition(name, p, _end_offset(consumer, TopicPartition(name, p), timeout)))
        if ends:
            consumer.commit(offsets=ends, asynchronous=False)
        return len(ends)
    finally:
        consumer.close()


def _end_offset(consumer, tp, timeout: float) -> int:
    """The partition's end offset; a topic created a moment ago may have no leader yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return consumer.get_watermark_offsets(tp, timeout=timeout)[1]
        except Exception:  # noqa: BLE001 - NOT_LEADER / LEADER_NOT_AVAILABLE while the leader is elected
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)
