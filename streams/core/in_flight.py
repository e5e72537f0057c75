"""Count work in progress, and wait until there is none: a stopping worker's drain.

Why: a worker told to stop (SIGTERM: a rolling restart, a scale-in, `docker stop`) used to cancel
the steps its pool was running; their answers were never sent, and each such step waited for the
heartbeat clock (30 s) to be requested again elsewhere (issue 18). Stopping now leaves the group
first (its partitions move on at once), then waits a bounded time for the steps already running
to finish and send their answers (streams/worker/app.py). Pure asyncio, no Faust.
"""
from __future__ import annotations

import asyncio
from contextlib import contextmanager


class InFlight:
    """How many units of work are running; `idle` waits until none are (or a timeout)."""

    def __init__(self) -> None:
        self.count = 0
        self.finished = 0  # completed since start, whatever their outcome
        self._idle: asyncio.Event | None = None

    @contextmanager
    def track(self):
        self.count += 1
        try:
            yield
        finally:
            self.count -= 1
            self.finished += 1
            if self.count == 0 and self._idle is not None:
                self._idle.set()

    async def idle(self, timeout: float) -> bool:
        """True when nothing is running (at once or within `timeout` seconds), else False."""
        if self.count == 0:
            return True
        self._idle = asyncio.Event()
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except asyncio.TimeoutError:
            return False
        finally:
            self._idle = None
        return True
