"""Times for the API and console: ISO 8601 (UTC) from the events' epoch milliseconds, durations
and ages in seconds. Why one module: /runs used epoch ms where /scans used ISO strings."""
from __future__ import annotations

import datetime
import time


def to_ms(value) -> int | None:
    """Epoch milliseconds from an event's `occurred_at` (Avro timestamp-millis decodes to an aware
    datetime) or from a number already in ms."""
    if value is None:
        return None
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.timezone.utc)
        return int(value.timestamp() * 1000)
    return int(value)


def iso(ms: int | float | None) -> str | None:
    """`2026-12-04T14:03:07.123Z` for epoch milliseconds (None stays None)."""
    if ms is None:
        return None
    return datetime.datetime.fromtimestamp(ms / 1000, datetime.timezone.utc).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def seconds(start_ms: int | float | None, end_ms: int | float | None) -> float | None:
    if start_ms is None or end_ms is None:
        return None
    return round(max(0.0, (end_ms - start_ms) / 1000), 3)


def now_ms() -> int:
    return int(time.time() * 1000)


def age(ms: int | float | None, now: int | None = None) -> float | None:
    """Seconds since `ms` (now by default)."""
    return seconds(ms, now if now is not None else now_ms())
