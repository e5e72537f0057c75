"""The processor pool: work runs in other processes, errors keep their code, a killed pool
process fails only its step (retryable) and the pool is replaced."""
from __future__ import annotations

import asyncio
import os

import pytest

from streams.core.policy import WorkerLostError, error_info
from streams.execution.pool import ProcessorPool, ReportedError
from streams.core.settings import Settings

MODULE = "tests.unit.execution.pool_work"


@pytest.fixture
def pool():
    p = ProcessorPool(Settings(), processes=2)
    yield p
    p.shutdown()


def run(coro):
    return asyncio.run(coro)


def test_work_runs_in_pool_processes_not_the_event_loop_process(pool):
    async def both():
        return await asyncio.gather(*(pool.run(MODULE, "thumbnails", {"echo": i}, reuse=False) for i in range(4)))
    results = run(both())
    assert [r["echo"] for r in results] == [0, 1, 2, 3] and {r["stage"] for r in results} == {"thumbnails"}
    assert os.getpid() not in {r["pid"] for r in results}


def test_errors_come_back_with_code_retryability_and_class(pool):
    with pytest.raises(ReportedError) as exc:
        run(pool.run(MODULE, "technical-metadata", {"corrupt": True}, reuse=False))
    info = error_info(exc.value)
    assert (info["code"], info["retryable"], info["error_class"]) == ("corrupt_mesh", False, "CorruptMeshError")
    with pytest.raises(ReportedError) as exc:
        run(pool.run(MODULE, "technical-metadata", {"bug": True}, reuse=False))
    assert error_info(exc.value)["code"] == "internal_error"


def test_a_killed_pool_process_fails_its_step_as_retryable_and_the_pool_recovers(pool):
    with pytest.raises(WorkerLostError) as exc:
        run(pool.run(MODULE, "thumbnails", {"die": True}, reuse=False))
    info = error_info(exc.value)
    assert info["code"] == "worker_lost" and info["retryable"]
    assert run(pool.run(MODULE, "thumbnails", {"echo": "after"}, reuse=False))["echo"] == "after"


def test_pool_is_sized_to_the_cores_this_worker_may_use():
    from streams.execution.pool import pool_size

    assert pool_size(Settings()) == len(os.sched_getaffinity(0))
    assert pool_size(Settings.from_env({"MESHSTREAM_PROCESSOR_PROCESSES": "3"})) == 3


def test_keyed_lock_keeps_one_run_keys_requests_in_arrival_order_and_lets_others_pass():
    from streams.core.keyed_lock import KeyedLock

    locks = KeyedLock()
    order: list[str] = []

    async def handle(key: str, name: str, seconds: float):
        async with locks(key):
            await asyncio.sleep(seconds)
            order.append(name)

    async def scenario():
        await asyncio.gather(handle("run-a", "a1", 0.2), handle("run-a", "a2", 0.0), handle("run-b", "b1", 0.05))

    run(scenario())
    assert order == ["b1", "a1", "a2"]
    assert not locks._locks  # nothing kept for finished keys


def test_warm_starts_every_pool_process_up_front(pool):
    pids = run(pool.warm([MODULE]))
    assert len(set(pids)) == pool.processes == 2 and os.getpid() not in pids
    assert sorted(pool.pids()) == sorted(set(pids))


def test_a_step_starts_when_a_slot_is_free_not_when_it_is_queued(pool):
    """`on_start` (the stage's `started` report, which starts its execution timeout) is called
    for at most one task per pool slot at a time: six tasks on four slots start in turns."""
    running_at_start = []

    async def six():
        def begin():
            running_at_start.append(pool.running)

        return await asyncio.gather(*(pool.run(MODULE, "thumbnails", {"echo": i, "sleep": 0.3}, reuse=False,
                                               on_start=begin) for i in range(6)))
    results = run(six())
    assert len(results) == 6 and len(running_at_start) == 6
    assert pool.capacity == 4 and max(running_at_start) < pool.capacity  # never more started than slots to run them
    assert pool.running == 0


def _pool(processes: int, slots: int) -> ProcessorPool:
    return ProcessorPool(Settings.from_env({"MESHSTREAM_PROCESSOR_SLOTS": str(slots)}), processes=processes)


def _overlap(a: dict, b: dict) -> bool:
    return a["began"] < b["ended"] and b["began"] < a["ended"]


@pytest.mark.parametrize("slots", [1, 2])
def test_a_pool_process_runs_as_many_steps_at_once_as_it_has_slots(slots):
    """Two steps that wait (as a step waits on S3) on a one-process pool: with two slots they run
    at the same time in that process, with one they run in turn."""
    pool = _pool(1, slots)
    try:
        async def two():
            return await asyncio.gather(*(pool.run(MODULE, "thumbnails", {"echo": i, "sleep": 0.4}, reuse=False)
                                          for i in range(2)))
        a, b = run(two())
    finally:
        pool.shutdown()
    assert a["pid"] == b["pid"]
    assert _overlap(a, b) == (slots == 2), (a, b)


def test_steps_of_one_process_take_turns_at_computing_and_compute_while_another_waits():
    """Two steps that compute on a one-process pool of two slots never compute at the same time
    (one core per pool process, no GIL fight); a step that waits as on S3 lets the other compute."""
    pool = _pool(1, 2)
    try:
        async def two(first: dict, second: dict):
            return await asyncio.gather(pool.run(MODULE, "thumbnails", first, reuse=False),
                                        pool.run(MODULE, "thumbnails", second, reuse=False))
        a, b = run(two({"compute": 0.3}, {"compute": 0.3}))
        computing = ({"began": a["began"], "ended": a["computed"]}, {"began": b["began"], "ended": b["computed"]})
        assert not _overlap(*computing), (a, b)
        waits, computes = run(two({"sleep": 0.6}, {"compute": 0.3}))
        waited = {"began": waits["computed"], "ended": waits["ended"]}
        assert _overlap(waited, {"began": computes["began"], "ended": computes["computed"]}), (waits, computes)
    finally:
        pool.shutdown()


def test_steps_go_to_the_least_busy_process_before_any_process_takes_a_second():
    """Two processes of two slots each: two steps at once run in two processes, not both in one
    (the other core would idle while they share one)."""
    pool = _pool(2, 2)
    try:
        async def two():
            return await asyncio.gather(*(pool.run(MODULE, "thumbnails", {"sleep": 0.3}, reuse=False) for _ in range(2)))
        for _ in range(3):
            a, b = run(two())
            assert _overlap(a, b) and a["pid"] != b["pid"], (a, b)
    finally:
        pool.shutdown()


def test_a_killed_pool_process_fails_every_step_it_held_and_gets_its_slots_back():
    """A process killed while it runs two steps fails both (retryable `worker_lost`); its
    replacement has both slots, so two steps run at once again."""
    pool = _pool(1, 2)
    try:
        before = set(run(pool.warm([MODULE])))

        async def held_and_killed():
            return await asyncio.gather(pool.run(MODULE, "thumbnails", {"echo": "held", "sleep": 5}, reuse=False),
                                        pool.run(MODULE, "thumbnails", {"die": True, "sleep": 0.2}, reuse=False),
                                        return_exceptions=True)
        held, killed = run(asyncio.wait_for(held_and_killed(), 30))
        assert isinstance(held, WorkerLostError) and isinstance(killed, WorkerLostError), (held, killed)
        assert pool.running == 0 and len(pool.pids()) == 1 and not set(pool.pids()) & before

        async def two():
            return await asyncio.gather(*(pool.run(MODULE, "thumbnails", {"echo": i, "sleep": 0.4}, reuse=False)
                                          for i in range(2)))
        a, b = run(asyncio.wait_for(two(), 30))
        assert _overlap(a, b) and a["pid"] == b["pid"] and a["pid"] in pool.pids()
    finally:
        pool.shutdown()


def test_a_step_does_not_start_while_the_pool_processes_are_still_starting(pool):
    """A step requested while `warm` is starting the processes (imports take seconds on a busy
    machine) reports `started` only once they are up: its execution timeout measures its work,
    not the pool's start-up (test_backlog requested the first two downloads again with a 3 s
    timeout)."""
    order = []

    async def scenario():
        async def warm():
            await pool.warm([MODULE, "trimesh"])  # an import that takes a while in a fresh process
            order.append("warm")

        warming = asyncio.ensure_future(warm())
        await asyncio.sleep(0)  # warm() has begun
        await pool.run(MODULE, "download", {"echo": 1}, reuse=False, on_start=lambda: order.append("started"))
        await warming
    run(scenario())
    assert order == ["warm", "started"]


def test_a_killed_pool_process_fails_only_its_own_step_and_is_replaced(pool):
    """The step running beside the killed one finishes (an executor-wide pool failed both), and
    the pool is back to its size with a new process in the dead one's place."""
    before = set(run(pool.warm([MODULE])))

    async def both():
        return await asyncio.gather(pool.run(MODULE, "thumbnails", {"echo": "beside", "sleep": 0.5}, reuse=False),
                                    pool.run(MODULE, "thumbnails", {"die": True}, reuse=False),
                                    return_exceptions=True)
    beside, died = run(both())
    assert beside["echo"] == "beside" and isinstance(died, WorkerLostError)
    after = set(pool.pids())
    assert len(after) == pool.processes == 2 and len(after & before) == 1 and beside["pid"] in after
    assert pool.running == 0

    async def four():
        return await asyncio.gather(*(pool.run(MODULE, "thumbnails", {"echo": i}, reuse=False) for i in range(4)))
    assert {r["echo"] for r in run(asyncio.wait_for(four(), 60))} == {0, 1, 2, 3}


PRELOAD_RUN = """
import asyncio, json, sys
from streams.core.settings import Settings
from streams.execution.pool import ProcessorPool
M = "tests.unit.execution.pool_work"
async def main():
    pool = ProcessorPool(Settings.from_env({"MESHSTREAM_POOL_START_METHOD": sys.argv[1]}), processes=2, preload=(M,))
    answers = await asyncio.gather(*(pool.run(M, "thumbnails", {"sleep": 0.5}, reuse=False) for _ in range(2)))
    pool.shutdown()
    print(json.dumps([[a["pid"], a["imported_in"]] for a in answers]))
asyncio.run(main())
"""


@pytest.mark.parametrize("method", ["forkserver", "spawn"])
def test_stage_modules_are_imported_once_by_the_forkserver_not_by_each_pool_process(method):
    """The forkserver imports the preloaded stage modules and every pool process is a fork of it
    (one import per worker: ADR 0005 amendment); spawned processes each import them. Run in a
    fresh interpreter: a process has one forkserver, started with the first pool's preload."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    out = subprocess.run([sys.executable, "-c", PRELOAD_RUN, method], cwd=root, capture_output=True, text=True,
                         timeout=120, check=True)
    (a_pid, a_imported), (b_pid, b_imported) = json.loads(out.stdout.strip().splitlines()[-1])
    assert a_pid != b_pid, "two pool processes answered"
    if method == "forkserver":
        assert a_imported == b_imported and a_imported not in (a_pid, b_pid), "imported once, in the forkserver"
    else:
        assert (a_imported, b_imported) == (a_pid, b_pid), "each spawned process imported it itself"


def test_an_unknown_start_method_is_refused_by_name():
    with pytest.raises(ValueError, match="MESHSTREAM_POOL_START_METHOD"):
        ProcessorPool(Settings.from_env({"MESHSTREAM_POOL_START_METHOD": "fork"}), processes=1)
