"""The shared event envelope, built exactly as the workers build it (streams/core/envelope.py).

`derived_id` uses the workers' uuid5 namespace and separator, so an id derived here for the same
parts equals the one a worker derives.
"""
from __future__ import annotations

import time
import uuid
from typing import Any

NAMESPACE = uuid.UUID("6f1b5a0e-8c1d-4f7e-9a53-2f3d8c0e7b11")


def derived_id(*parts: str) -> str:
    """A stable UUID for the given parts (uuid5 over the parts joined by U+001F)."""
    return str(uuid.uuid5(NAMESPACE, "\x1f".join(parts)))


def envelope(service: str, version: str, correlation_id: str, causation_id: str | None = None,
             event_id: str | None = None) -> dict[str, Any]:
    return {
        "event_id": event_id or str(uuid.uuid4()),
        "correlation_id": correlation_id,
        "causation_id": causation_id,
        "occurred_at": int(time.time() * 1000),
        "producer": {"service": service, "version": version},
    }
