"""S3 round trips a pool process does not wait for with its core idle.

A pool process computes one step at a time; every S3 request it makes in line is ~2 ms in which
its core does nothing while the S3 server works (a one-core worker, complete workflow: about a
third of its wall). Two ways out, both with threads that wait on sockets and do not compute, so
a pool process still uses one core:

- `upload_threads()`: a step that stores many objects at once (a model's 14 thumbnails) puts them
  with at most `UPLOAD_CONCURRENCY` in flight and waits for all (StageContext.store_many).
- `write_behind`: a write whose loss costs nothing but time, the reuse record a step leaves for
  a later run of the same input (streams/execution/context.py), is written after the step has
  answered. A process that dies first leaves no record, and the next run of that input works
  afresh; a record is one PUT, so it is there whole or not at all. The thread is a daemon: a
  pool process that is stopped never waits for it.
"""
from __future__ import annotations

import logging
import queue
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

log = logging.getLogger("meshstream")

UPLOAD_CONCURRENCY = 4  # the S3 client keeps 8 connections (processors/storage.py)
_uploads: ThreadPoolExecutor | None = None
_uploads_lock = threading.Lock()


def upload_threads() -> ThreadPoolExecutor:
    """This process's upload threads, made on first use."""
    global _uploads
    with _uploads_lock:
        if _uploads is None:
            _uploads = ThreadPoolExecutor(UPLOAD_CONCURRENCY, thread_name_prefix="s3-put")
        return _uploads


class WriteBehind:
    """Writes done by one daemon thread after the caller moved on, in the order given. When
    `depth` writes are waiting (the S3 server is slower than the steps), the caller writes in its
    own thread: memory stays bounded and a slow server slows the steps, as it did before."""

    def __init__(self, depth: int = 64):
        self._queue: queue.Queue = queue.Queue(depth)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def submit(self, write: Callable, *args) -> None:
        self._ensure_thread()
        try:
            self._queue.put_nowait((write, args))
        except queue.Full:
            self._write(write, args)

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until every submitted write is done (tests; True when they are)."""
        self._ensure_thread()
        done = threading.Event()
        try:
            self._queue.put((done.set, ()), timeout=timeout)
        except queue.Full:
            return False
        return done.wait(timeout)

    def _ensure_thread(self) -> None:
        with self._lock:  # made on first use (after a pool process is forked), again if it died
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="write-behind", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            write, args = self._queue.get()
            self._write(write, args)

    @staticmethod
    def _write(write: Callable, args: tuple) -> None:
        try:
            write(*args)
        except Exception as exc:  # noqa: BLE001 - the step already answered: log, never raise
            log.warning("a reuse record was not stored (the next run of this input works afresh): %s", exc)


write_behind = WriteBehind()
