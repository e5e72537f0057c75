"""Publish scan requests (and events of any contract) from a downstream Python service.

The record is what the workers expect: the shared envelope (correlation id = scan id, no
causation for an external request), the Confluent Avro wire format with the schema the
workers registered, the scan id as the key, partitioned with librdkafka's `murmur2_random`
(Java's murmur2, the partitioner of the workers' Faust/aiokafka clients), acknowledged by all
in-sync replicas. `publish` returns once the broker acknowledged the record, or raises: there
is no local spool here (the CLI's publisher has one); publishing a scan again with the same
scan id is safe, the workers treat it as the same scan.
"""
from __future__ import annotations

import logging
import uuid
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Producer

from meshstream_client._version import __version__
from meshstream_client.contract import ContractInfo
from meshstream_client.envelope import envelope
from meshstream_client.errors import (AuthenticationFailed, BrokerUnavailable, ContractViolation, MeshstreamError,
                                      PublishRejected)
from meshstream_client.generated.contracts import CONTRACTS, DISCOVERY_SCAN_REQUESTED
from meshstream_client.payloads import payload_dict
from meshstream_client.security import kafka_config
from meshstream_client.serde import Serde
from meshstream_client.settings import Settings

log = logging.getLogger("meshstream_client")

# librdkafka errors meaning "the broker was not reached in time", whatever their retriable flag says
UNREACHABLE = frozenset({
    KafkaError._MSG_TIMED_OUT, KafkaError._TIMED_OUT, KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN,
    KafkaError._PURGE_QUEUE, KafkaError._PURGE_INFLIGHT, KafkaError._RESOLVE, KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NOT_ENOUGH_REPLICAS, KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.NETWORK_EXCEPTION,
})
AUTH = frozenset({KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED,
                  KafkaError.TOPIC_AUTHORIZATION_FAILED, KafkaError.CLUSTER_AUTHORIZATION_FAILED,
                  KafkaError._SSL})


def kafka_error(what: str, err: KafkaError) -> MeshstreamError:
    """The client's error for a librdkafka error."""
    if err.code() in AUTH:
        return AuthenticationFailed(f"{what}: {err.str()}")
    if err.code() in UNREACHABLE or err.retriable():
        return BrokerUnavailable(f"{what}: {err.str()}")
    return PublishRejected(f"{what}: {err.str()}")


def contract_named(name: str) -> ContractInfo:
    try:
        return CONTRACTS[name]
    except KeyError:
        raise ContractViolation("", f"unknown contract {name!r}; known: {', '.join(sorted(CONTRACTS))}") from None


class Publisher:
    """`Publisher().scan("models", "batch-7/")`: settings from the arguments, else MESHSTREAM_*."""

    def __init__(self, settings: Settings | None = None, *, service: str = "meshstream-python-client", **overrides: Any):
        self.settings = (settings.replace(**overrides) if overrides else settings) if settings else Settings(**overrides)
        self.service = service
        self.serde = Serde(self.settings)
        self.producer = self._producer()

    def _producer(self) -> Producer:
        return Producer({**kafka_config(self.settings, error_cb=lambda err: log.debug("producer: %s", err)),
                         "enable.idempotence": True, "acks": "all", "partitioner": "murmur2_random",
                         "linger.ms": 5, "message.timeout.ms": int(self.settings.publish_timeout * 1000)})

    def publish(self, contract: str, key: str, payload: Any, *, correlation_id: str,
                causation_id: str | None = None, event_id: str | None = None) -> str:
        """Encode and publish one event; returns its event id once the broker acknowledged it.
        `payload` is a generated payload object or a dict (fields with defaults may be left out).

        Raises ContractViolation (nothing was sent), RegistryUnavailable / RegistryRejected
        (nothing was sent), BrokerUnavailable (not acknowledged in `publish_timeout`: safe to
        publish again with the same event id), PublishRejected, AuthenticationFailed."""
        info = contract_named(contract)
        env = envelope(self.service, __version__, correlation_id, causation_id, event_id)
        value = self.serde.encode(info, {"envelope": env, "payload": payload_dict(info, payload)})
        outcome: list[KafkaError | None] = []
        try:
            self.producer.produce(info.topic, key=key.encode(), value=value,
                                  on_delivery=lambda err, msg: outcome.append(err))
        except BufferError as exc:
            raise BrokerUnavailable(f"publish to {info.topic}: the local queue is full (broker unreachable?)") from exc
        except KafkaException as exc:
            raise kafka_error(f"publish to {info.topic}", exc.args[0]) from exc
        self.producer.flush(self.settings.publish_timeout + 5)
        if not outcome:  # cannot happen with message.timeout.ms; never leave the record queued behind the caller
            self.producer.purge(in_queue=True, in_flight=False)
            self.producer.flush(1)
            raise BrokerUnavailable(f"publish to {info.topic}: no acknowledgement within {self.settings.publish_timeout} s")
        err = outcome[0]
        if err is not None:
            if err.fatal():  # an idempotent producer cannot go on after a fatal error
                self.producer = self._producer()
            raise kafka_error(f"publish to {info.topic}", err)
        return env["event_id"]

    def scan(self, bucket: str, prefix: str = "", *, workflow: str | None = None, storage: str = "default",
             scan_id: str | None = None, owner_id: str | None = None, objects_manifest: Any = None,
             options: Any = None) -> str:
        """Ask the workers to process every model under bucket/prefix; returns the scan id, the
        correlation id of every event the scan causes (terminal events included).

        `workflow`: a workflow of the workers' workflows.yaml (default: the contract's default).
        `storage`: a storage connection name configured on the workers (never credentials).
        `options`: ProcessingOptions (generated class or dict: skip_cache, printers,
        overhang_angle_deg, listing, ...). `objects_manifest`: an ObjectRef listing the objects.
        Re-using a scan id replays that scan, it does not start new work."""
        if not bucket:
            raise ContractViolation("payload.bucket", "a bucket is required")
        scan_id = scan_id or str(uuid.uuid4())
        payload: dict[str, Any] = {"scan_id": scan_id, "storage": storage, "bucket": bucket, "prefix": prefix,
                                   "owner_id": owner_id, "objects_manifest": _plain(objects_manifest),
                                   "options": _plain(options)}
        if workflow is not None:
            payload["workflow"] = workflow
        self.publish(DISCOVERY_SCAN_REQUESTED.name, scan_id, payload, correlation_id=scan_id)
        return scan_id

    def close(self, timeout: float = 5.0) -> None:
        self.producer.flush(timeout)

    def __enter__(self) -> "Publisher":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _plain(value: Any) -> Any:
    return value.to_avro() if hasattr(value, "to_avro") else value

