"""Receive the events of some contracts (by default the terminal events of workflow runs) in a
downstream Python service, decoded and typed.

Group and offsets (the README says the same): a subscriber is a member of the consumer group
`group_id`, by default `meshstream-python-client`, a stable name, so a restarted service
resumes where it stopped: the events published while it was away are delivered, none is
skipped. Members of one group share the topics' partitions (run several instances of a service
to spread the load); two services that both want every event use two group ids. A group that
has never committed offsets starts at `start`: "earliest" (default: every event still on the
topics) or "latest" (only events published after it first joined).

At least once: a record's offset is stored for the group's commit only when the caller asks for
the next event (it handled this one) or calls `commit()`; offsets are committed every few
seconds, by `commit()` and by `close()`. A crash delivers the unhandled events
again, and repeated event ids (a stage or this group re-reading after a restart) are dropped by
a bounded memory of the last `dedup_size` ids.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Iterable, Iterator

from confluent_kafka import Consumer, KafkaError, KafkaException, TopicPartition

from meshstream_client.dedup import DEFAULT_SIZE, SeenIds
from meshstream_client.errors import (AuthenticationFailed, BrokerUnavailable, DecodeError, MeshstreamError,
                                      RegistryUnavailable, TopicsMissing)
from meshstream_client.generated import EVENTS
from meshstream_client.generated.contracts import TERMINAL
from meshstream_client.publisher import AUTH, contract_named, kafka_error
from meshstream_client.security import kafka_config
from meshstream_client.serde import Serde
from meshstream_client.settings import Settings

log = logging.getLogger("meshstream_client")

DEFAULT_GROUP = "meshstream-python-client"
STARTS = ("earliest", "latest")


@dataclass(frozen=True)
class Received:
    """One event. `event` / `payload` are the generated classes, built on first access (decoding
    into dicts and typing only what the caller reads: ADR 0010); `record` is the decoded dict."""

    contract: str
    topic: str
    partition: int
    offset: int
    key: str | None
    record: dict[str, Any] = field(repr=False)

    @cached_property
    def event(self) -> Any:
        """The typed event, e.g. generated.processing_v1.ProcessingCompleted."""
        return EVENTS[self.contract].from_avro(self.record)

    @property
    def payload(self) -> Any:
        """The typed payload, e.g. ProcessingCompletedPayload (`.payload.metadata.triangles`)."""
        return self.event.payload

    @property
    def event_id(self) -> str:
        return self.record["envelope"]["event_id"]

    @property
    def correlation_id(self) -> str:
        """The workflow run the event belongs to (for a terminal event: its run; the scan id
        is `payload.scan_id`)."""
        return self.record["envelope"]["correlation_id"]


class Subscriber:
    """`for ev in Subscriber().events(timeout=60): ...`: settings from the arguments, else MESHSTREAM_*."""

    def __init__(self, contracts: Iterable[str] = TERMINAL, settings: Settings | None = None, *,
                 group_id: str = DEFAULT_GROUP, start: str = "earliest", dedup_size: int = DEFAULT_SIZE,
                 **overrides: Any):
        if start not in STARTS:
            raise ValueError(f"start={start!r}: one of {', '.join(STARTS)}")
        self.settings = (settings.replace(**overrides) if overrides else settings) if settings else Settings(**overrides)
        self.contracts = {c.topic: c for c in map(contract_named, contracts)}
        if not self.contracts:
            raise ValueError("subscribe to at least one contract")
        self.group_id = group_id
        self.serde = Serde(self.settings)
        self._errors: list[KafkaError] = []
        self.consumer = Consumer({
            **kafka_config(self.settings, error_cb=self._errors.append),
            "group.id": group_id,
            "auto.offset.reset": start,
            "enable.auto.commit": True,
            "enable.auto.offset.store": False,  # stored by events() once the caller handled a record
        })
        self.consumer.subscribe(list(self.contracts))
        self._seen = SeenIds(dedup_size)
        self._yielded = None  # the last record handed to the caller, not yet stored for commit
        self._checked = False
        self.skipped = 0  # records that were not events of their contract
        self.duplicates = 0  # repeated event ids dropped

    # -- reachability ------------------------------------------------------------------------
    def _check_cluster(self, timeout: float) -> None:
        """Metadata from the broker within `timeout`, and the topics present; else raise."""
        try:
            meta = self.consumer.list_topics(timeout=max(timeout, 0.1))
        except KafkaException as exc:
            err = exc.args[0]
            # a refused login surfaces here as a transport failure, its cause in the error callback,
            # which librdkafka calls only from poll()
            self._serve_callbacks()
            err = next((e for e in self._errors if e.code() in AUTH), err)
            if err.code() in AUTH:
                raise AuthenticationFailed(f"broker {self.settings.kafka_bootstrap}: {err.str()}") from exc
            raise BrokerUnavailable(f"no broker of {self.settings.kafka_bootstrap} answered within "
                                    f"{timeout:.1f} s: {err.str()}") from exc
        missing = sorted(t for t in self.contracts if t not in meta.topics or meta.topics[t].error is not None)
        if missing:
            raise TopicsMissing(missing)
        self._checked = True

    def _serve_callbacks(self) -> None:
        """Let librdkafka deliver queued error callbacks; a record it returns meanwhile is put back."""
        msg = self.consumer.poll(0.2)
        if msg is not None and not msg.error():
            self.consumer.seek(TopicPartition(msg.topic(), msg.partition(), msg.offset()))

    def _raise_reported_errors(self, remaining: float) -> None:
        errors, self._errors[:] = list(self._errors), []
        for err in errors:
            if err.code() in AUTH:
                raise AuthenticationFailed(f"broker {self.settings.kafka_bootstrap}: {err.str()}")
            if err.fatal():
                raise kafka_error("consumer", err)
        if any(e.code() in (KafkaError._ALL_BROKERS_DOWN, KafkaError._TRANSPORT) for e in errors):
            self._check_cluster(min(remaining, self.settings.connect_timeout))  # raises if still unreachable

    # -- events ------------------------------------------------------------------------------
    def events(self, timeout: float | None = None, idle_timeout: float | None = None) -> Iterator[Received]:
        """Yield new events until `timeout` seconds in total, or `idle_timeout` seconds without one.

        Raises BrokerUnavailable when no broker answers (within `timeout`, or the settings'
        connect_timeout), TopicsMissing, AuthenticationFailed, and RegistryUnavailable when a
        record's schema cannot be fetched: that record is read again by the next events() call,
        and nothing after it is committed. Records that are not events of their contract are
        skipped (counted in `skipped`, logged)."""
        start = time.monotonic()
        deadline = None if timeout is None else start + timeout
        last = start

        def remaining() -> float:
            return self.settings.connect_timeout if deadline is None else max(deadline - time.monotonic(), 0.0)

        if not self._checked:
            self._check_cluster(min(remaining(), self.settings.connect_timeout))
        while deadline is None or time.monotonic() < deadline:
            msg = self.consumer.poll(min(0.5, remaining()) if deadline is not None else 0.5)
            if self._errors:
                self._raise_reported_errors(remaining())
            if msg is None:
                if idle_timeout is not None and time.monotonic() - last > idle_timeout:
                    return
                continue
            if msg.error():
                code = msg.error().code()
                if code == KafkaError._PARTITION_EOF:
                    continue
                if code in (KafkaError.UNKNOWN_TOPIC_OR_PART, KafkaError._UNKNOWN_TOPIC):
                    raise TopicsMissing([msg.topic()])
                raise kafka_error("consumer", msg.error())
            last = time.monotonic()
            contract = self.contracts[msg.topic()]
            try:
                record = self.serde.decode(msg.value(), contract)
            except RegistryUnavailable:  # the record may be fine: read it again next time
                self.consumer.seek(TopicPartition(msg.topic(), msg.partition(), msg.offset()))
                raise
            except DecodeError as exc:
                log.warning("skipping %s[%d]@%d: %s: %s", msg.topic(), msg.partition(), msg.offset(), exc.code, exc)
                self.skipped += 1
                self.consumer.store_offsets(msg)
                continue
            if self._seen.first_time(record["envelope"]["event_id"]):
                key = msg.key()
                self._yielded = msg
                yield Received(contract.name, msg.topic(), msg.partition(), msg.offset(),
                               None if key is None else key.decode("utf-8", "replace"), record)
                self._yielded = None
            else:
                self.duplicates += 1
            self.consumer.store_offsets(msg)

    def commit(self) -> None:
        """Mark every event yielded so far as handled (the last one included, which is otherwise
        delivered again after a restart: leaving the loop does not say it was handled) and
        commit the group's offsets now."""
        try:
            if self._yielded is not None:
                self.consumer.store_offsets(self._yielded)
                self._yielded = None
            self.consumer.commit(asynchronous=False)
        except KafkaException as exc:
            if exc.args[0].code() != KafkaError._NO_OFFSET:  # nothing new to commit
                raise kafka_error("commit", exc.args[0]) from exc

    def close(self) -> None:
        """Leave the group, committing the offsets of the events handled."""
        try:
            self.consumer.close()
        except KafkaException as exc:
            raise kafka_error("closing the consumer", exc.args[0]) from exc

    def __enter__(self) -> "Subscriber":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


__all__ = ["DEFAULT_GROUP", "Received", "Subscriber"]
