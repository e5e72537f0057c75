"""The steps a pool process runs at once take turns at computing; waiting on S3 is not a turn.

Why: a step spends part of its wall waiting on S3 round trips (the cached copy, 14 thumbnail
puts, result documents: about half of a standard model's wall here, far more against a remote
object store), and a process running one step at a time leaves its core idle meanwhile. So a
pool process runs up to MESHSTREAM_PROCESSOR_SLOTS steps in threads (streams/execution/pool.py),
and they take turns: a step holds the turn while it computes and lets go of it only while it
waits on storage. Two steps computing at once in one process would fight over the GIL (numpy
releases it on every call, and each hand-over between threads on two cores costs a wake-up: the
workers' CPU per model rose by a fifth, bench/RESULTS.md), and one process would use more than its
core; taking turns keeps one step computing per process and fills its waits with another's work.

A thread that holds no turn (the upload and write-behind threads, the worker's own process) is
unaffected: `waiting()` does nothing for it.
"""
from __future__ import annotations

import contextlib
import threading

import urllib3


class Turns:
    """One turn at computing per process, held by one step's thread at a time."""

    def __init__(self):
        self._turn = threading.Lock()
        self._mine = threading.local()

    @contextlib.contextmanager
    def step(self):
        """Run a step: it takes the turn, and keeps it except while it waits (below)."""
        self._turn.acquire()
        self._mine.held = True
        try:
            yield
        finally:
            self._mine.held = False
            self._turn.release()

    @contextlib.contextmanager
    def waiting(self):
        """A blocking round trip: the turn goes to another step meanwhile and comes back after."""
        if not getattr(self._mine, "held", False):
            yield
            return
        self._mine.held = False
        self._turn.release()
        try:
            yield
        finally:
            self._turn.acquire()
            self._mine.held = True


turns = Turns()  # this process's


class TurnYieldingPoolManager(urllib3.PoolManager):
    """The S3 client's connection pool: a request's round trip (sending it, the server's work,
    the response's headers) is waiting, not a turn at computing."""

    def urlopen(self, method, url, redirect=True, **kw):
        with turns.waiting():
            return super().urlopen(method, url, redirect=redirect, **kw)
