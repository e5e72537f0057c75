"""Publish from plain Python services, with a standard confluent-kafka producer and a spool.

Services that are not Faust workers (the platform team's scanner, a marketplace sync) use these:
the same manifest, the same serde, the same wire format as the agents.
"""
from __future__ import annotations

import hashlib
import logging
import uuid
from pathlib import Path

from confluent_kafka import KafkaError, Producer

from streams.core.version import __version__
from streams.core.settings import Settings
from registry.manifest import Manifest, default_manifest
from registry.serde import AvroSerde, registry_client
from streams.core.envelope import envelope
from streams.core.policy import kafka_error_is_transient
from streams.core.security import kafka_client_config
from streams.client.spool import Spool
from streams.core import names


log = logging.getLogger("meshstream")


def producer_config(settings: Settings) -> dict:
    # murmur2_random: the partitioner of the Java client and of Faust/aiokafka, so records we
    # publish with a key land on the partition the agents' tables expect.
    # message.timeout.ms bounds how long a record waits for the broker, so after a flush every
    # record has a definite outcome (delivered, or still only in the spool).
    return {**kafka_client_config(settings), "enable.idempotence": True,
            "acks": "all", "partitioner": "murmur2_random", "linger.ms": 5,
            "message.timeout.ms": int(settings.publish_timeout * 1000)}


def spool_for(settings: Settings) -> Spool:
    """The spool of this cluster: one directory per bootstrap list, so a record spooled for one
    cluster is never delivered to another."""
    cluster = hashlib.sha256(settings.kafka_bootstrap.encode()).hexdigest()[:16]
    return Spool(Path(settings.spool_dir) / cluster, settings.spool_max_records, settings.spool_max_bytes)


class Publisher:
    """Publishes through a write-ahead spool: a record is on disk before it is produced and leaves
    the spool when the broker acknowledged it. With the broker down, `publish` returns after
    `publish_timeout` with the record spooled (`pending()` > 0); the next publish, or
    `deliver_spooled()`, sends it, oldest first, with the same bytes and event id."""

    def __init__(self, settings: Settings | None = None, manifest: Manifest | None = None, service: str = "meshstream-cli"):
        self.settings = settings or Settings()
        self.manifest = manifest or default_manifest()
        self.serde = AvroSerde(registry_client(self.settings))
        self.producer = Producer(producer_config(self.settings))
        self.spool = spool_for(self.settings)
        self.service = service

    def publish(self, contract_name: str, key: str, payload: dict, correlation_id: str,
                causation_id: str | None = None, event_id: str | None = None) -> str:
        """Encode and publish one event; returns its event id once the record is delivered or,
        if the broker is unreachable, durably spooled. Raises if the broker rejects it for good."""
        contract = self.manifest.by_name(contract_name)
        env = envelope(self.service, correlation_id, causation_id, event_id=event_id, version=__version__)
        value = self.serde.encode(contract, {"envelope": env, "payload": payload})
        record = self.spool.append(contract.topic, key.encode(), value, env["event_id"])
        rejected = self.deliver_spooled()
        if record.path in rejected:
            raise RuntimeError(f"publish to {contract.topic} rejected by the broker: {rejected[record.path]}")
        return env["event_id"]

    def pending(self) -> int:
        """Records spooled and not yet acknowledged by the broker."""
        return len(self.spool)

    def deliver_spooled(self) -> dict[Path, str]:
        """Send every spooled record, oldest first, and forget those the broker acknowledged.
        Records that failed for a transient reason (broker unreachable, timed out) stay spooled;
        records the broker refuses for good (e.g. too large, unknown topic) move to the spool's
        `rejected/` folder, kept for inspection; returns those as {path: reason}."""
        rejected: dict[Path, str] = {}
        with self.spool.locked():
            pending = self.spool.pending()
            if not pending:
                return rejected
            outcome: dict[Path, KafkaError | None] = {}
            for rec in pending:
                self._produce(rec, lambda err, msg, rec=rec: outcome.__setitem__(rec.path, err))
            left = self.producer.flush(self.settings.publish_timeout + 5)
            if left:  # cannot happen with message.timeout.ms; never leave a record both queued and spooled
                self.producer.purge(in_queue=True, in_flight=False)
                self.producer.flush(1)
            fatal = False
            for rec in pending:
                err = outcome.get(rec.path, "not acknowledged")
                if err is None:
                    self.spool.remove(rec)
                elif isinstance(err, KafkaError) and not kafka_error_is_transient(err):
                    fatal = fatal or err.fatal()
                    rejected[rec.path] = str(err)
                    self.spool.reject(rec)
                elif isinstance(err, KafkaError) and err.fatal():
                    fatal = True
            if fatal:  # the idempotent producer cannot go on after a fatal error: start a new one
                self.producer = Producer(producer_config(self.settings))
        return rejected

    def _produce(self, rec, callback) -> None:
        while True:
            try:
                self.producer.produce(rec.topic, key=rec.key, value=rec.value, on_delivery=callback)
                return
            except BufferError:  # local queue full: let deliveries drain, then retry
                self.producer.poll(0.5)

    def close(self, timeout: float = 5.0) -> None:
        self.producer.flush(timeout)

    def scan(self, bucket: str, prefix: str = "", workflow: str | None = None, storage: str = "default",
             scan_id: str | None = None, owner_id: str | None = None, objects_manifest: dict | None = None,
             options: dict | None = None) -> str:
        """Publish a scan request; returns its scan id (the correlation id of everything it causes).
        `objects_manifest` (an ObjectRef) hands discovery a listing by reference instead of letting it
        list bucket/prefix: see `write_objects_manifest`. `options` (ProcessingOptions: skip_cache,
        enable_expensive_analysis, overhang_angle_deg, printers, listing) reach every stage whose
        request has those fields."""
        from streams.orchestration.workflow import default_workflow_name

        scan_id = scan_id or str(uuid.uuid4())
        workflow = workflow or default_workflow_name()
        self.publish(names.SCAN_REQUESTED, scan_id,
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
    client = connect(conn.endpoint, conn.access_key, conn.secret_key, conn.secure, conn.ca_location)
    models = models if models is not None else group_models(list_objects(client, bucket, prefix))
    data = build_manifest(models, bucket=bucket, prefix=prefix)
    key = f"scans/manifests/{hashlib.sha256(data).hexdigest()[:32]}.json"
    etag = put_bytes(client, settings.results_bucket, key, data, "application/json")
    return {"storage": storage, "bucket": settings.results_bucket, "key": key, "etag": etag, "size_bytes": len(data)}
