"""Per-key mutual exclusion for agents that handle several records at once.

Stage agents run with Faust `concurrency` > 1 so one slow record does not hold up the others;
records of one run key must still be handled one at a time and in arrival order, which this lock
gives. (The orchestrator takes its events in batches instead: streams/faust_ext/batches.py.)
"""
from __future__ import annotations

import asyncio
import contextlib


class KeyedLock:
    """`async with locks(key):` one holder per key at a time, waiters served in arrival order
    (asyncio.Lock is fair), so concurrent copies of a stage agent never reorder one run's
    requests; a key's lock is dropped when nobody holds or awaits it."""

    def __init__(self):
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @contextlib.asynccontextmanager
    async def __call__(self, key: str):
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)
