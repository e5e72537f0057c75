"""Subscribe from plain Python services, with a standard confluent-kafka consumer.

The same manifest, serde and wire format as the agents; at least once, duplicates dropped.
"""
from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from typing import Iterator

from confluent_kafka import Consumer, KafkaError, TopicPartition

from registry.manifest import Manifest, default_manifest
from registry.serde import AvroSerde, RegistryUnavailableError, SerdeError, registry_client
from streams.core.policy import InPlaceRetry
from streams.core.security import kafka_client_config
from streams.core.settings import Settings
from streams.core import names

log = logging.getLogger("meshstream")

TERMINAL = names.TERMINAL


@dataclass(frozen=True)
class Received:
    contract: str
    topic: str
    partition: int
    offset: int
    record: dict

    @property
    def payload(self) -> dict:
        return self.record["payload"]


class Subscriber:
    """Iterate decoded events of the given contracts; duplicates (same event_id) are dropped.

    At least once: a record's offset is stored for the group's commit only after the caller
    asked for the next event (it handled this one), so a crash redelivers, never skips. Records
    that are not events of their contract (malformed, unknown schema id, broken constraint) are
    skipped, counted and logged; an unreachable registry is waited out on the same record."""

    def __init__(self, contracts=TERMINAL, settings: Settings | None = None, group_id: str | None = None,
                 from_beginning: bool = False, manifest: Manifest | None = None):
        self.settings = settings or Settings()
        self.manifest = manifest or default_manifest()
        self.serde = AvroSerde(registry_client(self.settings))
        self.contracts = {self.manifest.by_name(n).topic: self.manifest.by_name(n) for n in contracts}
        self.consumer = Consumer({
            **kafka_client_config(self.settings),
            "group.id": group_id or f"meshstream-subscriber-{uuid.uuid4()}",
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,  # stored by events() once a record is handled
        })
        self.consumer.subscribe(list(self.contracts))
        self._seen: set[str] = set()
        self.skipped = 0  # records that were not events of their contract
        self._registry_retry = InPlaceRetry()

    def events(self, timeout: float | None = None, idle_timeout: float | None = None) -> Iterator[Received]:
        """Yield events until `timeout` seconds in total, or `idle_timeout` seconds without one."""
        deadline = None if timeout is None else time.monotonic() + timeout
        last = time.monotonic()
        while deadline is None or time.monotonic() < deadline:
            msg = self.consumer.poll(0.5)
            if msg is None:
                if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    return
                continue
            if msg.error():
                if msg.error().code() == KafkaError._PARTITION_EOF:
                    continue
                raise RuntimeError(f"consumer error: {msg.error()}")
            last = time.monotonic()
            contract = self.contracts[msg.topic()]
            try:
                record = self.serde.decode(msg.value(), contract)
            except RegistryUnavailableError as exc:  # transient: read this record again after a pause
                log.warning("%s[%d]@%d: %s; retrying", msg.topic(), msg.partition(), msg.offset(), exc)
                self.consumer.seek(TopicPartition(msg.topic(), msg.partition(), msg.offset()))
                time.sleep(self._registry_retry.next_delay())
                continue
            except SerdeError as exc:  # not an event of the contract: say so, keep reading
                log.warning("skipping %s[%d]@%d: %s", msg.topic(), msg.partition(), msg.offset(), exc.code)
                self.skipped += 1
                self.consumer.store_offsets(msg)
                continue
            self._registry_retry.reset()
            event_id = record["envelope"]["event_id"]
            if event_id not in self._seen:
                self._seen.add(event_id)
                yield Received(contract.name, msg.topic(), msg.partition(), msg.offset(), record)
            self.consumer.store_offsets(msg)

    def close(self) -> None:
        self.consumer.close()
