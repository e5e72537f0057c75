"""CPU-bound stage work in a pool of processes sized to the machine, beside the event loop.

Why processes: geometry (parsing, rendering, ray casting) is Python and numpy under one GIL; in
the worker's own process it competed with the event loop (heartbeats, acks, serde) and one
worker used one core. Each pool process runs a stage's `work(ctx, payload)` with its own
settings and storage clients, so one `meshstream worker` uses every core while its event loop
stays responsive.

Why the forkserver start method: the worker has threads, so its pool processes must not be
forks of it; but spawned ones each imported numpy, trimesh, scipy and the renderer again, about
2.7 CPU-seconds per process on this machine, paid at every worker start and again for every
replacement of a dead process. A forkserver imports the stage modules once (`preload`) and
forks each pool process from that single-threaded, fully imported state: one import per
worker, and a replacement starts in milliseconds.

Why not `concurrent.futures.ProcessPoolExecutor`: its manager thread, its call queue's feeder
thread and a `call_soon_threadsafe` per result cost the worker 0.47 ms of CPU per task against
0.09 ms for a pipe per process read on the event loop itself (`loop.add_reader`), and a tiny
model is three tasks (issue 19; bench/RESULTS.md). So the pool is a free list of slots, each
process with its own pipe; `on_start` (a stage's `started` report) is called when a slot is free.

Why slots (MESHSTREAM_PROCESSOR_SLOTS, default 2): a step spends part of its wall waiting on S3
round trips (the cached copy, 14 thumbnail puts, result documents: ~30 ms of a 55 ms standard
model here, far more against a remote object store), and a process running one step at a time
leaves its core idle meanwhile. Each process runs up to `slots` steps in threads that take turns
at computing (streams/execution/turns.py): one computes while the others wait on S3, so a pool
process still uses one core, not a hidden thread pool's many.

Failures come back in-band as ErrorInfo (`("error", info)`), so any exception a processor
raises arrives with its code and retryability without having to be picklable. A pool process
that dies (killed, out of memory) fails only the steps it was running, with the retryable
`worker_lost` code, and is replaced, so the orchestrator retries them and the worker itself
keeps running (ADR 0005).
"""
from __future__ import annotations

import asyncio
import collections
import importlib
import logging
import os
import pickle
import signal
import threading
from concurrent.futures import ThreadPoolExecutor
from multiprocessing import get_context

from streams.core.policy import WorkerLostError, error_info
from streams.core.settings import Settings
from streams.execution.turns import turns

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


def slots_per_process(settings: Settings) -> int:
    """MESHSTREAM_PROCESSOR_SLOTS: steps each pool process runs at once (at least one)."""
    return max(1, settings.processor_slots)


def pool_capacity(settings: Settings) -> int:
    """Steps the pool runs at once: its processes x MESHSTREAM_PROCESSOR_SLOTS. The stage agents
    and the orchestrator's admission keep this many requests going, so no slot waits for one."""
    return pool_size(settings) * slots_per_process(settings)


START_METHODS = ("forkserver", "spawn")


def _context(method: str, preload: tuple[str, ...]):
    """The start method's context; a forkserver is told to import `preload` when it starts (this
    process's first pool process starts it; the list is the same for every pool of a worker)."""
    if method not in START_METHODS:
        raise ValueError(f"MESHSTREAM_POOL_START_METHOD={method!r}: expected one of {', '.join(START_METHODS)}")
    context = get_context(method)
    if method == "forkserver" and preload:
        context.set_forkserver_preload(list(preload))
    return context


class _Process:
    """One pool process, the worker's end of its pipe, and the replies it owes."""

    def __init__(self, settings: Settings, preload: tuple[str, ...] = (), slots: int = 1):
        context = _context(settings.pool_start_method, preload)
        self.conn, child_end = context.Pipe()
        self.pending: dict[int, tuple[asyncio.Future, str]] = {}  # task id -> (reply, what it runs)
        # daemon: ended with the worker's interpreter; pool processes start no processes of their own
        self.process = context.Process(target=_serve, args=(child_end, settings, slots), daemon=True,
                                       name="meshstream-pool")
        self.process.start()
        child_end.close()  # the child's end lives in the child only: its death is EOF here

    @property
    def pid(self) -> int | None:
        return self.process.pid

    def close(self) -> None:
        """No more work: the process reads EOF and exits once its current task is done."""
        self.conn.close()

    def kill(self) -> None:
        self.conn.close()
        if self.process.is_alive():
            self.process.terminate()


class ProcessorPool:
    def __init__(self, settings: Settings, processes: int | None = None, preload: tuple[str, ...] = ()):
        """`preload`: modules the forkserver imports once for every pool process (the stage
        modules: numpy, trimesh and the processors come with them)."""
        self.settings = settings
        self.processes = processes or pool_size(settings)
        self.slots = slots_per_process(settings)
        self.capacity = self.processes * self.slots
        self.preload = tuple(preload)
        self.running = 0  # tasks (and warm-ups) pool processes are working on now (the rest wait for a slot)
        self._warming: tuple | None = None  # (event loop, future of warm()) while the processes start
        self._all: list[_Process] = [_Process(settings, self.preload, self.slots) for _ in range(self.processes)]
        self._free: list[_Process] = [proc for proc in self._all for _ in range(self.slots)]  # one entry per free slot
        self._waiting: collections.deque[asyncio.Future] = collections.deque()
        self._task_ids = iter(range(1, 1 << 62))
        self._closed = False

    async def run(self, module: str, stage: str, payload: dict, reuse: bool = True, on_start=None) -> dict:
        """`work(ctx, payload)` of the stage module, in a pool process (through the result reuse
        of streams.execution.context.run_work unless `reuse` is off); raises ReportedError or
        WorkerLostError. A task is handed to a process only when one of its slots is free, so
        `on_start()` (a stage's `started` report) is called when the work can begin, not while
        it would wait behind others, nor while the pool's processes are still starting
        (`warm`: seconds of imports on a busy machine, which a 3 s execution timeout counted as
        the step's, and requested the first steps again)."""
        await self._warm_done()
        proc = await self._take()
        if on_start is not None:
            on_start()
        status, value = await self._call(proc, ("run", (module, stage, payload, reuse)), stage)
        if status == "error":
            raise ReportedError(value)
        return value

    async def _warm_done(self) -> None:
        warming = self._warming
        if warming is not None and warming[0] is asyncio.get_running_loop() and not warming[1].done():
            await asyncio.wait([warming[1]])  # its failure is warm()'s caller's to report

    # -- the free list -----------------------------------------------------------------------
    async def _take(self) -> _Process:
        if self._closed:
            raise WorkerLostError("the processor pool is shut down")
        if self._free:
            # the free slot of the process running the fewest steps: a step never shares a core
            # while another process's core has nothing to do
            proc = min(self._free, key=lambda p: len(p.pending))
            self._free.remove(proc)
            return proc
        waiter = asyncio.get_running_loop().create_future()
        self._waiting.append(waiter)
        try:
            return await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():  # handed a process as it was cancelled
                self._give_back(waiter.result())
            raise

    async def _take_slot_of(self, proc: _Process) -> None:
        """A slot of this process (the warm-up must reach each process, not any free slot)."""
        while proc not in self._free:
            if self._closed or proc not in self._all:
                raise WorkerLostError("the pool process is gone")
            await asyncio.sleep(0.01)
        self._free.remove(proc)

    def _give_back(self, proc: _Process) -> None:
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.done() and not waiter.get_loop().is_closed():
                waiter.set_result(proc)
                return
        self._free.append(proc)

    # -- one task ----------------------------------------------------------------------------
    def _call(self, proc: _Process, message: tuple, what: str) -> asyncio.Future:
        """Send `message` (kind, args) to `proc`, which the caller took a slot of; a future of its
        reply. Replies are read on the event loop when the pipe is readable, and the slot goes
        back to the free list then, whether or not the caller still waits (a cancelled step's
        slot is busy until its work ends)."""
        loop = asyncio.get_running_loop()
        reply: asyncio.Future = loop.create_future()
        task_id = next(self._task_ids)
        if not proc.pending:
            loop.add_reader(proc.conn.fileno(), self._readable, proc)
        proc.pending[task_id] = (reply, what)
        self.running += 1
        try:
            proc.conn.send((message[0], task_id, message[1]))
        except Exception as exc:  # noqa: BLE001 - a dead process (broken pipe) or an unpicklable payload
            del proc.pending[task_id]
            self.running -= 1
            if isinstance(exc, OSError):
                self._lost(proc, exc)
                raise WorkerLostError(f"the process for {what} is gone: {exc!r}") from exc
            if not proc.pending:
                loop.remove_reader(proc.conn.fileno())
            self._give_back(proc)
            raise
        return reply

    def _readable(self, proc: _Process) -> None:
        """One reply of `proc` (its pipe is readable), or its death (EOF): every step it was running fails."""
        try:
            task_id, blob = proc.conn.recv()
        except (EOFError, OSError) as exc:  # the process died mid-task
            self._lost(proc, exc)
            return
        reply, _ = proc.pending.pop(task_id, (None, ""))
        if not proc.pending:
            asyncio.get_running_loop().remove_reader(proc.conn.fileno())
        self.running -= 1  # before the slot is handed on: the next task's on_start counts it free
        try:
            answer = pickle.loads(blob)
        except Exception as exc:  # noqa: BLE001 - an answer that does not unpickle here: the step's failure
            answer = ("error", error_info(exc))
        self._give_back(proc)
        if reply is not None and not reply.done():
            reply.set_result(answer)

    def _lost(self, proc: _Process, exc: BaseException) -> None:
        """`proc` is gone: fail the steps it was running (retryable) and put a new process in its place."""
        try:
            asyncio.get_running_loop().remove_reader(proc.conn.fileno())
        except (OSError, ValueError):  # its pipe is closed already
            pass
        pending, proc.pending = proc.pending, {}
        self.running -= len(pending)
        self._replace(proc)
        for reply, what in pending.values():
            if not reply.done():
                reply.set_exception(WorkerLostError(f"the process running {what} died: {exc!r}"))

    def _replace(self, dead: _Process) -> None:
        dead.kill()
        dead.process.join(timeout=5)
        if dead not in self._all:  # already replaced
            return
        self._all.remove(dead)
        self._free = [proc for proc in self._free if proc is not dead]
        if self._closed:
            return
        log.warning("a processor process died (pid %s, exit code %s); starting a new one", dead.pid, dead.process.exitcode)
        try:
            fresh = _Process(self.settings, self.preload, self.slots)
        except Exception:  # noqa: BLE001 - the pool runs one process short rather than fail the event loop's callback
            log.exception("a new processor process could not be started; %d processes left", len(self._all))
            return
        self._all.append(fresh)
        for _ in range(self.slots):
            self._give_back(fresh)

    # -- life cycle --------------------------------------------------------------------------
    async def warm(self, modules: list[str]) -> list[int]:
        """Import the stage modules in every pool process now (numpy, trimesh and the
        processors: about a CPU-second per process), so the first models do not pay for it and
        their wall and CPU figures are the work's. Returns the pool's pids."""
        async def one(proc: _Process) -> int:
            await self._take_slot_of(proc)
            return (await self._call(proc, ("warm", modules), "warm-up"))[1]

        started = asyncio.gather(*(one(proc) for proc in list(self._all)))
        self._warming = (asyncio.get_running_loop(), started)
        return list(await started)

    def pids(self) -> list[int]:
        """Live pool process ids (for tests and metrics)."""
        return [p.pid for p in self._all if p.process.is_alive()]

    def shutdown(self) -> None:
        """No new work; each process exits after the task it is running."""
        self._closed = True
        for proc in self._all:
            proc.close()

    def terminate(self) -> None:
        """Stop now: end the pool processes (SIGTERM), for a worker that is exiting. Otherwise
        the interpreter's exit would wait for every running task, including the start-up
        warm-up (seconds of imports), before the process could end (issue 22). Work cut short is
        redelivered, as after a crash: its agent has stopped and cannot publish it."""
        self._closed = True
        for proc in self._all:
            proc.kill()


# -- in the pool process -------------------------------------------------------------------------

_contexts: dict = {}
_settings: Settings | None = None


def _init_child(settings: Settings) -> None:
    global _settings
    _settings = settings
    # Ctrl-C reaches the whole process group: the worker shuts the pool down, not the children
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent()
    # the worker's log is this process's stderr too: say which process holds which step
    logging.basicConfig(level=logging.INFO, format="[%(asctime)s] [%(process)d] [%(levelname)s] %(message)s")


def _die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (even by SIGKILL), so a killed
    worker never leaves pool processes behind; elsewhere the pool's own pipes end them. The
    parent is the worker's forkserver, which exits when the worker does (its alive pipe reads
    EOF), so the chain ends here too."""
    parent = os.getppid()
    try:
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def _serve(conn, settings: Settings, slots: int = 1) -> None:
    """A pool process: read tasks and answer each, until the worker closes the pipe (EOF) or dies.
    The tasks run in `slots` threads (the worker hands it no more at once); at EOF the process
    ends when the tasks it holds are answered."""
    _init_child(settings)
    send_lock = threading.Lock()
    with ThreadPoolExecutor(slots, thread_name_prefix="step") as threads:  # its exit waits for them
        while True:
            try:
                kind, task_id, args = conn.recv()
            except (EOFError, OSError):
                break
            threads.submit(_answer, conn, send_lock, kind, task_id, args)


def _answer(conn, send_lock: threading.Lock, kind: str, task_id: int, args) -> None:
    with turns.step():  # one step computes at a time; another's S3 waits are its turn (turns.py)
        answer = ("ok", _warm(args)) if kind == "warm" else _run(*args)
    try:  # pickled here, so an answer that does not unpickle in the worker fails only its own task
        blob = pickle.dumps(answer, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as exc:  # noqa: BLE001 - a result that does not pickle is the stage's failure
        blob = pickle.dumps(("error", error_info(exc)))
    with send_lock:
        try:
            conn.send((task_id, blob))
        except OSError:  # the worker is gone
            pass


def _warm(modules: list[str]) -> int:
    for module in modules:
        importlib.import_module(module)
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
