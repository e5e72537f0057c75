"""Retry, timeout and dead-letter policy: the one place that decides what a failure means.

Every agent goes through here (the dramatiq-middleware idea, seed 004): an exception becomes an
ErrorInfo with a stable `code` and a `retryable` flag, and that flag alone decides the route:

* transient (registry, storage or broker unavailable, a lost pool process, a timeout): retried
  with exponential backoff and jitter; a step through the run table (streams.orchestration.workflow), a record
  that cannot even be read yet in place (`InPlaceRetry`), never dead-lettered while it lasts;
* deterministic (corrupt input, contract violation, unsupported format, unknown workflow, a bug):
  failed or dead-lettered at once, never retried.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field

from registry.workflows import RetryPolicy

log = logging.getLogger("meshstream")

TIMEOUT = "timeout"


class TransientError(RuntimeError):
    """Base for infrastructure errors that a later attempt may not meet."""

    code = "unavailable"
    retryable = True


class BrokerUnavailableError(TransientError):
    code = "broker_unavailable"


class WorkerLostError(TransientError):
    """The process running a step died (killed, out of memory): the step may succeed elsewhere."""

    code = "worker_lost"


# librdkafka errors that mean "the broker was not reached in time", whatever their retriable
# flag says: the one table of them (the Publisher keeps such a record spooled, a stage retries)
TRANSIENT_KAFKA_ERRORS = ("_MSG_TIMED_OUT", "_TIMED_OUT", "_TRANSPORT", "_ALL_BROKERS_DOWN", "_PURGE_QUEUE",
                          "_PURGE_INFLIGHT", "REQUEST_TIMED_OUT", "NOT_ENOUGH_REPLICAS", "LEADER_NOT_AVAILABLE",
                          "NOT_LEADER_FOR_PARTITION")


def kafka_error_is_transient(err) -> bool:
    """Whether a confluent-kafka `KafkaError` may go away by itself (retry, keep spooled)."""
    from confluent_kafka import KafkaError  # lazily: pool processes never load librdkafka

    codes = {getattr(KafkaError, name) for name in TRANSIENT_KAFKA_ERRORS}
    return err.code() in codes or bool(err.retriable())


def _infra_code(exc: BaseException) -> str | None:
    """The code of an infrastructure failure a library raised untyped, or None."""
    if type(exc).__module__.startswith("confluent_kafka") and type(exc).__name__ == "KafkaException":
        err = exc.args[0] if exc.args else None
        transient = err is None or not hasattr(err, "code") or kafka_error_is_transient(err)
        return BrokerUnavailableError.code if transient else None
    if type(exc).__module__.startswith("aiokafka") and ("Timeout" in type(exc).__name__
                                                        or getattr(exc, "retriable", False)):
        # a timeout, or what aiokafka itself marks retriable (no leader for the partition yet,
        # not enough replicas, a lost connection): a produce that failed that way after the
        # producer's own retries may succeed on the next attempt, as after a broker fail-over
        return BrokerUnavailableError.code
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return TransientError.code
    return None


def error_info(exc: BaseException) -> dict:
    """The ErrorInfo record for an exception: typed errors keep their code and retryability,
    infrastructure errors are transient, anything else is an internal error (a bug, logged with
    its traceback, not retried: the same input would fail the same way)."""
    code = getattr(exc, "code", None)
    retryable = bool(getattr(exc, "retryable", False))
    if not isinstance(code, str):
        code = _infra_code(exc)
        retryable = code is not None
        if code is None:
            log.error("unexpected error", exc_info=exc)
            code = "internal_error"
    error_class = getattr(exc, "error_class", None) or type(exc).__name__  # a pool process's report keeps its class
    return {"code": code, "error_class": error_class, "message": str(exc)[:4000], "retryable": retryable}


def spread(*parts: str) -> float:
    """A jitter factor in [-1, 1], deterministic in its parts: two runs retrying at once are
    spread apart, while the same run and attempt always get the same delay (the state machine
    stays pure and a replayed decision is the same decision)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / float(2**64 - 1) * 2.0 - 1.0


# in-place waits (a dependency is down, a background loop failed): short first, capped
IN_PLACE_BACKOFF = RetryPolicy(initial_seconds=0.5, max_seconds=15.0, multiplier=2.0, jitter=0.1)


@dataclass
class InPlaceRetry:
    """Backoff for a record or a loop that cannot go on while a dependency is down (the registry
    during decoding, storage during discovery, the read model's consumer). A record keeps its
    place: everything behind it on the partition would meet the same outage, and order per key
    is kept. The delays are the one backoff function of the project, `RetryPolicy.delay_seconds`
    (registry/workflows.py), which also spaces a step's attempts."""

    policy: RetryPolicy = field(default_factory=lambda: IN_PLACE_BACKOFF)
    failures: int = 0

    def next_delay(self) -> float:
        self.failures += 1
        return self.policy.delay_seconds(self.failures, spread(str(id(self)), str(self.failures)))

    def reset(self) -> None:
        """After a success: the next outage starts from the shortest delay again."""
        self.failures = 0
