"""Replay dead letters: put the original records back on their original topics after a fix.

Dead letters keep the original key and bytes, topic, partition and offset. Replaying re-publishes
them unchanged (same key, so the same partition; same bytes, so the same event ids), which is safe
because every consumer is idempotent: a record that now succeeds is processed once, one that
still fails is dead-lettered again with its new offset.
"""
from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka import Consumer, Producer, TopicPartition

from streams.settings import Settings
from registry.manifest import default_manifest
from registry.serde import AvroSerde, registry_client
from streams.client import producer_config
from streams.security import kafka_client_config


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    partition: int
    original_topic: str
    original_offset: int
    original_key: bytes | None
    original_value: bytes | None
    stage: str
    code: str
    message: str


def read_dead_letters(settings: Settings, timeout: float = 10.0) -> list[DeadLetter]:
    """Every record on the dead-letter topic, oldest first (reads up to the current end)."""
    contract = default_manifest().by_name("pipeline.dead-lettered")
    serde = AvroSerde(registry_client(settings))
    consumer = Consumer({**kafka_client_config(settings), "group.id": "meshstream-replay-reader",
                         "enable.auto.commit": False})
    out: list[DeadLetter] = []
    try:
        meta = consumer.list_topics(contract.topic, timeout=timeout).topics[contract.topic]
        for p in sorted(meta.partitions):
            low, high = consumer.get_watermark_offsets(TopicPartition(contract.topic, p), timeout=timeout)
            if high <= low:
                continue
            consumer.assign([TopicPartition(contract.topic, p, low)])
            while True:
                msg = consumer.poll(timeout)
                if msg is None:
                    raise TimeoutError(f"dead-letter partition {p} stalled before offset {high}")
                if msg.error():
                    continue
                pl = serde.decode(msg.value(), contract)["payload"]
                out.append(DeadLetter(msg.offset(), p, pl["original_topic"], pl["original_offset"], pl["original_key"],
                                      pl["original_value"], pl["stage"], pl["error"]["code"], pl["error"]["message"]))
                if msg.offset() >= high - 1:
                    break
    finally:
        consumer.close()
    return out


def replay_dead_letters(settings: Settings, *, stage: str | None = None, code: str | None = None,
                        key: str | None = None, dry_run: bool = False) -> list[DeadLetter]:
    """Re-publish the matching dead letters' original records; returns what was (or would be) replayed."""
    chosen = [d for d in read_dead_letters(settings)
              if (stage is None or d.stage == stage) and (code is None or d.code == code)
              and (key is None or (d.original_key or b"").decode(errors="replace") == key)
              and d.original_value is not None]
    if dry_run or not chosen:
        return chosen
    producer = Producer(producer_config(settings))
    errors: list = []
    for d in chosen:
        producer.produce(d.original_topic, key=d.original_key, value=d.original_value,
                         on_delivery=lambda err, msg: errors.append(err) if err else None)
    if producer.flush(30) or errors:
        raise RuntimeError(f"replay failed: {errors or 'timed out'}")
    return chosen
