"""Publish and subscribe from plain Python services, with standard confluent-kafka clients.

Services that are not Faust workers (the platform team's scanner, a marketplace sync) use these:
the same manifest, the same serde, the same wire format as the agents.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from typing import Iterator

from confluent_kafka import Consumer, KafkaError, Producer

from streams.version import __version__
from streams.settings import Settings
from registry.manifest import Manifest, default_manifest
from registry.serde import AvroSerde, registry_client
from streams.envelope import envelope

TERMINAL = ("processing.completed", "processing.failed")


def producer_config(settings: Settings) -> dict:
    # murmur2_random: the partitioner of the Java client and of Faust/aiokafka, so records we
    # publish with a key land on the partition the agents' tables expect.
    return {"bootstrap.servers": settings.kafka_bootstrap, "enable.idempotence": True,
            "acks": "all", "partitioner": "murmur2_random", "linger.ms": 5}


class Publisher:
    def __init__(self, settings: Settings | None = None, manifest: Manifest | None = None, service: str = "meshstream-cli"):
        self.settings = settings or Settings()
        self.manifest = manifest or default_manifest()
        self.serde = AvroSerde(registry_client(self.settings))
        self.producer = Producer(producer_config(self.settings))
        self.service = service

    def publish(self, contract_name: str, key: str, payload: dict, correlation_id: str,
                causation_id: str | None = None, event_id: str | None = None) -> str:
        contract = self.manifest.by_name(contract_name)
        env = envelope(self.service, correlation_id, causation_id, event_id=event_id, version=__version__)
        value = self.serde.encode(contract, {"envelope": env, "payload": payload})
        errors: list = []
        self.producer.produce(contract.topic, key=key.encode(), value=value,
                              on_delivery=lambda err, msg: errors.append(err) if err else None)
        if self.producer.flush(30) or errors:
            raise RuntimeError(f"publish to {contract.topic} failed: {errors or 'timed out'}")
        return env["event_id"]

    def scan(self, bucket: str, prefix: str = "", workflow: str | None = None, storage: str = "default",
             scan_id: str | None = None, owner_id: str | None = None, objects_manifest: dict | None = None,
             options: dict | None = None) -> str:
        """Publish a scan request; returns its scan id (the correlation id of everything it causes).
        `objects_manifest` (an ObjectRef) hands discovery a listing by reference instead of letting it
        list bucket/prefix: see `write_objects_manifest`. `options` (ProcessingOptions: skip_cache,
        enable_expensive_analysis, overhang_angle_deg, printers, listing) reach every stage whose
        request has those fields."""
        from streams.workflow import default_workflow_name

        scan_id = scan_id or str(uuid.uuid4())
        workflow = workflow or default_workflow_name()
        self.publish("discovery-scan.requested", scan_id,
                     {"scan_id": scan_id, "storage": storage, "bucket": bucket, "prefix": prefix,
                      "workflow": workflow, "owner_id": owner_id, "objects_manifest": objects_manifest,
                      "options": processing_options(options)},
                     correlation_id=scan_id)
        return scan_id


def processing_options(options: dict | None) -> dict | None:
    """A full ProcessingOptions record from the options given (the rest take their defaults)."""
    if not options:
        return None
    listing = options.get("listing")
    return {"skip_cache": False, "enable_expensive_analysis": False, "overhang_angle_deg": None, "printers": [],
            **options,
            "listing": None if not listing else {"who_made": None, "when_made": None, "taxonomy_id": None,
                                                 "price": None, "listing_type": None, **listing}}


def write_objects_manifest(settings: Settings, bucket: str, prefix: str, models=None, storage: str = "default") -> dict:
    """List bucket/prefix (or take the given models), store the listing as a manifest object in the
    results bucket, and return its ObjectRef for `Publisher.scan(objects_manifest=...)`.
    Large folders travel by reference: the event stays small whatever the folder holds."""
    import hashlib

    from processors.discovery import build_manifest, group_models
    from processors.storage import connect, list_objects, put_bytes

    conn = settings.storage(storage)
    client = connect(conn.endpoint, conn.access_key, conn.secret_key, conn.secure)
    models = models if models is not None else group_models(list_objects(client, bucket, prefix))
    data = build_manifest(models, bucket=bucket, prefix=prefix)
    key = f"scans/manifests/{hashlib.sha256(data).hexdigest()[:32]}.json"
    etag = put_bytes(client, settings.results_bucket, key, data, "application/json")
    return {"storage": storage, "bucket": settings.results_bucket, "key": key, "etag": etag, "size_bytes": len(data)}


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
    """Iterate decoded events of the given contracts; duplicates (same event_id) are dropped."""

    def __init__(self, contracts=TERMINAL, settings: Settings | None = None, group_id: str | None = None,
                 from_beginning: bool = False, manifest: Manifest | None = None):
        self.settings = settings or Settings()
        self.manifest = manifest or default_manifest()
        self.serde = AvroSerde(registry_client(self.settings))
        self.contracts = {self.manifest.by_name(n).topic: self.manifest.by_name(n) for n in contracts}
        self.consumer = Consumer({
            "bootstrap.servers": self.settings.kafka_bootstrap,
            "group.id": group_id or f"meshstream-subscriber-{uuid.uuid4()}",
            "auto.offset.reset": "earliest" if from_beginning else "latest",
            "enable.auto.commit": True,
        })
        self.consumer.subscribe(list(self.contracts))
        self._seen: set[str] = set()

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
            record = self.serde.decode(msg.value(), contract)
            event_id = record["envelope"]["event_id"]
            if event_id in self._seen:
                continue
            self._seen.add(event_id)
            yield Received(contract.name, msg.topic(), msg.partition(), msg.offset(), record)

    def close(self) -> None:
        self.consumer.close()
