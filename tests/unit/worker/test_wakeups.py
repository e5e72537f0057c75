"""The orchestrator's wake-ups sleep until the earliest is due, and an earlier one added while it
sleeps wakes it at once (streams/worker/agents/orchestrator.py: Wakeups)."""
from __future__ import annotations

import asyncio
import time

from streams.worker.agents.orchestrator import Wakeups


def _ms() -> int:
    return int(time.time() * 1000)


def test_sleep_ends_when_the_earliest_wake_up_is_due():
    async def go():
        w = Wakeups()
        w.add(_ms() + 300, b"a")
        w.add(_ms() + 5000, b"b")
        start = time.monotonic()
        await w.sleep(_ms())
        slept = time.monotonic() - start
        return slept, w.due(_ms())
    slept, due = asyncio.run(go())
    assert 0.25 <= slept < 2.0
    assert due == [b"a"]


def test_an_earlier_wake_up_added_while_sleeping_ends_the_sleep():
    async def go():
        w = Wakeups()
        w.add(_ms() + 30_000, b"late")
        sleeper = asyncio.create_task(w.sleep(_ms()))
        await asyncio.sleep(0.05)
        assert not sleeper.done()
        w.add(_ms() + 10_000, b"later-than-now-but-earlier")
        await asyncio.wait_for(sleeper, 1.0)  # woken to recompute, long before either is due
        w.add(_ms() + 60_000, b"not-earlier")
        again = asyncio.create_task(w.sleep(_ms()))
        await asyncio.sleep(0.1)
        woken = again.done()
        again.cancel()
        return woken
    assert asyncio.run(go()) is False  # a later wake-up does not wake the sleeper


def test_an_empty_heap_sleeps_until_something_is_added_and_a_due_one_returns_at_once():
    async def go():
        w = Wakeups()
        sleeper = asyncio.create_task(w.sleep(_ms()))
        await asyncio.sleep(0.05)
        assert not sleeper.done()
        w.add(_ms() - 1, b"overdue")
        await asyncio.wait_for(sleeper, 1.0)
        start = time.monotonic()
        await w.sleep(_ms())  # already due: no wait
        return time.monotonic() - start, w.due(_ms())
    waited, due = asyncio.run(go())
    assert waited < 0.05
    assert due == [b"overdue"]
