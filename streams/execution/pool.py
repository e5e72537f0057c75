"""CPU-bound stage work in a pool of processes sized to the machine, beside the event loop.

Why processes: geometry (parsing, rendering, ray casting) is Python and numpy under one GIL; in
the worker's own process it competed with the event loop (heartbeats, acks, serde) and one
worker used one core. A `ProcessPoolExecutor` (spawn start method: the parent has threads)
runs each stage's `work(ctx, payload)` in a child with its own settings and storage clients, so
one `meshstream worker` uses every core while its event loop stays responsive.

Failures come back in-band as ErrorInfo (`("error", info)`), so any exception a processor
raises arrives with its code and retryability without having to be picklable. A pool process
that dies (killed, out of memory) breaks the executor: the step fails with the retryable
`worker_lost` code and the pool is replaced, so the orchestrator retries the step and the
worker itself keeps running (ADR 0005).
"""
from __future__ import annotations

import asyncio
import importlib
import logging
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from streams.core.policy import WorkerLostError, error_info
from streams.core.settings import Settings

log = logging.getLogger("meshstream")


class ReportedError(Exception):
    """A failure a pool process reported as ErrorInfo (see streams.core.policy.error_info)."""

    def __init__(self, info: dict):
        super().__init__(info.get("message", ""))
        self.info = info
        self.code, self.retryable = info["code"], info["retryable"]
        self.error_class = info.get("error_class", "Error")


def pool_size(settings: Settings) -> int:
    """MESHSTREAM_PROCESSOR_PROCESSES, else one per core this worker may run on (its CPU affinity:
    a worker started under `taskset -c 0` gets one pool process, not one per core of the host)."""
    if settings.processor_processes:
        return settings.processor_processes
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class ProcessorPool:
    def __init__(self, settings: Settings, processes: int | None = None):
        self.settings = settings
        self.processes = processes or pool_size(settings)
        self.running = 0  # tasks a pool process is working on now (the rest wait for a slot)
        self._slots: tuple | None = None  # (event loop, semaphore)
        self._warming: tuple | None = None  # (event loop, future of warm()) while the processes start
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(max_workers=self.processes, mp_context=get_context("spawn"),
                                   initializer=_init_child, initargs=(self.settings, os.getpid()))

    async def run(self, module: str, stage: str, payload: dict, reuse: bool = True, on_start=None) -> dict:
        """`work(ctx, payload)` of the stage module, in a pool process (through the result reuse
        of streams.execution.context.run_work unless `reuse` is off); raises ReportedError or
        WorkerLostError. At most one task per process is handed to the executor at a time, so
        `on_start()` (a stage's `started` report) is called when a process is free to begin
        the work, not while it would still wait in the executor's queue, nor while the pool's
        processes are still starting (`warm`: seconds of imports on a busy machine, which a
        3 s execution timeout counted as the step's, and requested the first steps again)."""
        await self._warm_done()
        async with self._slot():
            if on_start is not None:
                on_start()
            self.running += 1
            try:
                return await self._run(module, stage, payload, reuse)
            finally:
                self.running -= 1

    async def _warm_done(self) -> None:
        warming = self._warming
        if warming is not None and warming[0] is asyncio.get_running_loop() and not warming[1].done():
            await asyncio.wait([warming[1]])  # its failure is warm()'s caller's to report

    def _slot(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:  # one per event loop (tests run several)
            self._slots = (loop, asyncio.Semaphore(self.processes))
        return self._slots[1]

    async def _run(self, module: str, stage: str, payload: dict, reuse: bool) -> dict:
        executor = self._executor
        try:
            status, value = await asyncio.get_running_loop().run_in_executor(executor, _run, module, stage, payload, reuse)
        except BrokenProcessPool as exc:
            if self._executor is executor:  # the first to notice replaces it; the others reuse that
                log.warning("a processor process died (%s); starting a new pool", exc)
                self._executor = self._new_executor()
                executor.shutdown(wait=False, cancel_futures=True)
            raise WorkerLostError(f"the process running {stage} died: {exc}") from exc
        if status == "error":
            raise ReportedError(value)
        return value

    async def warm(self, modules: list[str]) -> list[int]:
        """Start every pool process and import the stage modules in it now (numpy, trimesh and
        the processors: about a CPU-second per process), so the first models do not pay for it
        and their wall and CPU figures are the work's. Returns the pool's pids."""
        loop = asyncio.get_running_loop()
        executor = self._executor
        # as many concurrent tasks as processes: the executor starts a process per waiting task
        started = asyncio.gather(*(loop.run_in_executor(executor, _warm, modules) for _ in range(self.processes)))
        self._warming = (loop, started)
        return list(await started)

    def pids(self) -> list[int]:
        """Live pool process ids (for tests and metrics)."""
        return [p.pid for p in (getattr(self._executor, "_processes", None) or {}).values() if p.is_alive()]

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

    def terminate(self) -> None:
        """Stop now: cancel queued work and end the pool processes (SIGTERM), for a worker that
        is exiting. Without this the interpreter's exit waits for every running task, including
        the start-up warm-up (seconds of imports), before the process can end (issue 22). Work
        cut short is redelivered, as after a crash: its agent has stopped and cannot publish it."""
        processes = list((getattr(self._executor, "_processes", None) or {}).values())
        self._executor.shutdown(wait=False, cancel_futures=True)
        for process in processes:
            if process.is_alive():
                process.terminate()


# -- in the pool process -------------------------------------------------------------------------

_contexts: dict = {}
_settings: Settings | None = None


def _init_child(settings: Settings, parent: int) -> None:
    global _settings
    _settings = settings
    # Ctrl-C reaches the whole process group: the worker shuts the pool down, not the children
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with(parent)
    # the worker's log is this process's stderr too: say which process holds which step
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")


def _die_with(parent: int) -> None:
    """Ask Linux to SIGKILL this process when the worker dies (even by SIGKILL), so a killed
    worker never leaves pool processes behind; elsewhere the pool's own pipes end them."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the worker died before prctl took effect
        os._exit(1)


def _warm(modules: list[str]) -> int:
    import time

    for module in modules:
        importlib.import_module(module)
    time.sleep(0.2)  # hold this process so the other warm-up tasks start their own
    return os.getpid()


def _run(module: str, stage: str, payload: dict, reuse: bool):
    from streams.execution.context import StageContext, run_work
    from streams.execution.storages import Storages

    ctx = _contexts.get(stage)
    if ctx is None:
        storages = next(iter(_contexts.values())).storage if _contexts else Storages(_settings)
        ctx = _contexts[stage] = StageContext(_settings, stage, storages)
    log.info("pool pid=%d started %s run=%s model=%s", os.getpid(), stage, payload.get("run_id"), payload.get("model_id"))
    try:
        return "ok", run_work(ctx, importlib.import_module(module), payload, reuse)
    except Exception as exc:  # noqa: BLE001 - reported to the worker, which sends the failed event
        return "error", error_info(exc)
