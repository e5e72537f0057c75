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


def test_each_put_starts_while_the_next_object_is_still_being_made():
    """A lazily made sequence (the thumbnails stage draws one image at a time) is stored as it is
    made: object i's put has begun before object i+1 is asked for."""
    ctx = _Recording()
    started = {key: threading.Event() for key, _, _ in _objects(6)}
    put = ctx.store_bytes

    def store_bytes(bucket, key, data, content_type, metadata=None):
        started[key].set()
        return put(bucket, key, data, content_type, metadata)

    ctx.store_bytes = store_bytes
    waited_for = []

    def made_one_at_a_time():
        previous = None
        for key, data, content_type in _objects(6):
            if previous is not None:
                waited_for.append(started[previous].wait(timeout=2.0))
            yield key, data, content_type
            previous = key

    refs = ctx.store_many("results", made_one_at_a_time())
    assert [r["key"] for r in refs] == [k for k, _, _ in _objects(6)]
    assert waited_for == [True] * 5


def test_an_error_while_making_the_objects_waits_for_the_puts_begun():
    ctx = _Recording()

    def fails_after_three():
        yield from _objects(3)
        raise ValueError("render failed")

    with pytest.raises(ValueError, match="render failed"):
        ctx.store_many("results", fails_after_three())
    assert len(ctx.finished) == 3 and ctx.in_flight == 0
