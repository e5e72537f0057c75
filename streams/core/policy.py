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
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

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


def _infra_code(exc: BaseException) -> str | None:
    """The code of an infrastructure failure a library raised untyped, or None."""
    if isinstance(exc, BrokenProcessPool):
        return WorkerLostError.code
    try:
        from confluent_kafka import KafkaException
        if isinstance(exc, KafkaException):
            err = exc.args[0] if exc.args else None
            retriable = getattr(err, "retriable", lambda: True)()
            return BrokerUnavailableError.code if retriable else None
    except ImportError:  # pragma: no cover - confluent-kafka is a dependency
        pass
    if type(exc).__module__.startswith("aiokafka") and "Timeout" in type(exc).__name__:
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


@dataclass
class InPlaceRetry:
    """Backoff for a record that cannot be handled while a dependency is down (the registry during
    decoding, storage during discovery). The record keeps its place: everything behind it on the
    partition would meet the same outage, and order per key is kept."""

    initial_seconds: float = 0.5
    max_seconds: float = 15.0
    failures: int = 0

    def next_delay(self) -> float:
        self.failures += 1
        base = min(self.max_seconds, self.initial_seconds * 2 ** (self.failures - 1))
        return base * (1.0 + 0.1 * spread(str(id(self)), str(self.failures)))
