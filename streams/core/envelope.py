"""Build the shared event envelope, with deterministic ids where a stage may re-emit.

A stage that crashes after sending but before committing its offset will process the same
input again; deriving the output's event_id from the input's id and the processor version makes
that second emission recognisably the same event, which is what the orchestrator dedups on.
"""
from __future__ import annotations

import time
import uuid

from streams.core.version import __version__

NAMESPACE = uuid.UUID("6f1b5a0e-8c1d-4f7e-9a53-2f3d8c0e7b11")


def derived_id(*parts: str) -> str:
    """A stable UUID for the given parts (uuid5), e.g. derived_id(scan_id, model_id)."""
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def envelope(service: str, correlation_id: str, causation_id: str | None = None,
             event_id: str | None = None, version: str = __version__) -> dict:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "occurred_at": int(time.time() * 1000),
        "producer": {"service": service, "version": version},
    }
