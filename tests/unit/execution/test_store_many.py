"""StageContext.store_many: a stage's many objects (a model's thumbnails) are stored with their
round trips overlapped, their refs come back in the order given, and a failed put fails the
step only after every put has finished."""
from __future__ import annotations

import threading
import time

import pytest

from processors.storage import StorageUnavailableError
from streams.execution.background_io import UPLOAD_CONCURRENCY
from streams.execution.context import StageContext


class _Recording(StageContext):
    """A StageContext whose single put is replaced by one that records how many run at once."""

    def __init__(self, fail: set[str] = frozenset()):
        self.fail, self.lock = fail, threading.Lock()
        self.in_flight = self.most_in_flight = 0
        self.finished: list[str] = []

    def store_bytes(self, bucket, key, data, content_type, metadata=None):
        with self.lock:
            self.in_flight += 1
            self.most_in_flight = max(self.most_in_flight, self.in_flight)
        time.sleep(0.02)  # a round trip: lets the others start
        with self.lock:
            self.in_flight -= 1
            self.finished.append(key)
        if key in self.fail:
            raise StorageUnavailableError(f"put {key}: connection refused")
        return {"bucket": bucket, "key": key, "etag": f"etag-{key}", "size_bytes": len(data)}


def _objects(n: int) -> list[tuple[str, bytes, str]]:
    return [(f"m/thumbnails/{i:02d}.png", b"x" * i, "image/png") for i in range(n)]


def test_refs_come_back_in_order_with_puts_overlapped():
    ctx = _Recording()
    refs = ctx.store_many("results", _objects(14))
    assert [r["key"] for r in refs] == [k for k, _, _ in _objects(14)]
    assert [r["size_bytes"] for r in refs] == list(range(14))
    assert ctx.most_in_flight == UPLOAD_CONCURRENCY  # overlapped, and bounded


def test_a_failed_put_is_raised_after_every_put_finished():
    ctx = _Recording(fail={"m/thumbnails/03.png", "m/thumbnails/09.png"})
    with pytest.raises(StorageUnavailableError, match="03.png"):
        ctx.store_many("results", _objects(14))
    assert len(ctx.finished) == 14 and ctx.in_flight == 0


def test_one_object_is_put_in_the_calling_thread():
    ctx = _Recording()
    seen = []
    original = ctx.store_bytes
    ctx.store_bytes = lambda *a, **k: (seen.append(threading.current_thread()), original(*a, **k))[1]
    ctx.store_many("results", _objects(1))
    assert seen == [threading.current_thread()]
