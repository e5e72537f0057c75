"""The worker's CPU per pool task: the processor pool (a pipe per process, answers read on the
event loop) against `concurrent.futures.ProcessPoolExecutor` (its manager and feeder threads, a
`call_soon_threadsafe` per answer), the pool's implementation until 2026-12-05 (ADR 0005).

Run: .venv/bin/python bench/pool_ipc.py [--tasks 3000]

Both run the same `_run` in spawned processes on a trivial stage `work` (this module's), one task
at a time per process as the worker hands them out, with a 2 KB payload like a stage request.
The figure is the parent's CPU (event loop and its threads) per task: what the worker process
pays per step beside the geometry (a tiny model is three steps). Alternating rounds; the ratio
of the two in the same run is the claim.
"""
from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

PAYLOAD = {"run_id": "r", "model_id": "m", "files": [{"key": "k" * 64, "etag": "e" * 32}], "pad": "x" * 2000}


def work(ctx, payload: dict) -> dict:
    """A stage whose work is nothing: what remains is the pool's own cost."""
    return {"files": payload["files"], "ok": True}


async def _pool(n: int) -> float:
    from streams.core.settings import Settings
    from streams.execution.pool import ProcessorPool

    pool = ProcessorPool(Settings(), processes=2)
    try:
        await pool.warm(["pool_ipc"])
        return await _timed(n, lambda: pool.run("pool_ipc", "bench", PAYLOAD, reuse=False))
    finally:
        pool.shutdown()


async def _executor(n: int) -> float:
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    from streams.core.settings import Settings
    from streams.execution import pool as pool_module

    loop = asyncio.get_running_loop()
    executor = ProcessPoolExecutor(max_workers=2, mp_context=get_context("spawn"), initializer=pool_module._init_child,
                                   initargs=(Settings(),))
    slots = asyncio.Semaphore(2)

    async def one():
        async with slots:
            return await loop.run_in_executor(executor, pool_module._run, "pool_ipc", "bench", PAYLOAD, False)
    try:
        await asyncio.gather(*(loop.run_in_executor(executor, pool_module._warm, ["pool_ipc"]) for _ in range(2)))
        return await _timed(n, one)
    finally:
        executor.shutdown()


async def _timed(n: int, task) -> float:
    """Parent CPU seconds per task, two tasks in flight (one per process) throughout."""
    await asyncio.gather(*(task() for _ in range(20)))  # warm
    cpu = time.process_time()
    for _ in range(n // 2):
        await asyncio.gather(task(), task())
    return (time.process_time() - cpu) / (n // 2 * 2)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", type=int, default=3000)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()
    import logging

    logging.disable(logging.INFO)  # the pool processes' per-task log line is not what is measured
    pool, executor = [], []
    for _ in range(args.rounds):
        executor.append(asyncio.run(_executor(args.tasks)))
        pool.append(asyncio.run(_pool(args.tasks)))
    e, p = sum(executor) / len(executor), sum(pool) / len(pool)
    print(f"worker CPU per task, ProcessPoolExecutor: {e * 1000:.3f} ms  (rounds: {', '.join(f'{x * 1000:.3f}' for x in executor)})")
    print(f"worker CPU per task, processor pool:      {p * 1000:.3f} ms  (rounds: {', '.join(f'{x * 1000:.3f}' for x in pool)})")
    print(f"ratio pool / executor: {p / e:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
