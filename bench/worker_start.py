"""What one worker start costs in CPU: pool processes forked from a forkserver that imported the
stage modules once (`MESHSTREAM_POOL_START_METHOD=forkserver`, the default since 2026-12-05)
against spawned ones that each import them (`spawn`, the pool's start method before), in one run.

Run: .venv/bin/python bench/worker_start.py [--rounds 3]

On one private stack, in alternating rounds, a worker of every stage is started (not pinned: its
pool has one process per core) and, once its pool reports ready, the CPU of its process tree is
read from /proc: the worker process (imports, Faust, joining the group, table recovery) and the
pool side (the forkserver, if any, and the pool processes). Printed beside them, measured in the
same run: one plain import of every stage module in a fresh interpreter, the cost a spawned pool
pays once per process. Every worker scale-out, restart and replacement pays the start; the
claim is the ratio of the two methods.
"""
from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pipeline import private_stack, process_cpu, started_workers, tree_cpu, tree_pids  # noqa: E402

METHODS = ("forkserver", "spawn")
IMPORT_STAGES = ("import importlib\n"
                 "from registry.manifest import default_manifest\n"
                 "from streams.execution.catalog import processing_stages, work_module\n"
                 "for s in processing_stages(default_manifest()):\n"
                 "    importlib.import_module(work_module(s))\n")


def one_import() -> float:
    """CPU seconds of a fresh interpreter importing every stage module (children's CPU of a run)."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([sys.executable, "-c", IMPORT_STAGES], cwd=ROOT, check=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def one_start(env: dict, method: str, log_dir: Path) -> dict:
    """Start one worker with `method`, wait for its pool, read its tree's CPU, stop it."""
    t0 = time.monotonic()
    extra = {"env": {"MESHSTREAM_POOL_START_METHOD": method, "MESHSTREAM_APP_ID": f"start-{uuid.uuid4().hex[:8]}"}}
    with started_workers({**env, "MESHSTREAM_APP_ID": "bench-start"}, [extra], log_dir) as (worker,):
        wall = time.monotonic() - t0
        pid = worker.proc.pid
        pool_side = [p for p in tree_pids(pid) if p != pid]
        return {"wall": wall, "worker": process_cpu(pid), "pool": sum(process_cpu(p) for p in pool_side),
                "total": tree_cpu(pid), "processes": len(pool_side)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    imports = [one_import() for _ in range(3)]
    results: dict[str, list[dict]] = {m: [] for m in METHODS}
    with private_stack() as local, tempfile.TemporaryDirectory(prefix="meshstream-start-") as logs:
        env = local.config.client_env()
        one_start(env, METHODS[0], Path(logs))  # unmeasured: topics, schemas and the page cache warm
        for _ in range(args.rounds):
            for method in METHODS:
                results[method].append(one_start(env, method, Path(logs)))
        imports += [one_import() for _ in range(3)]

    med = {m: {k: statistics.median(r[k] for r in rows) for k in ("wall", "worker", "pool", "total", "processes")}
           for m, rows in results.items()}
    imp = statistics.median(imports)
    print(f"one import of every stage module in a fresh interpreter: {imp:.2f} s CPU (median of {len(imports)})")
    print(f"worker start to pool ready, median of {args.rounds} alternating rounds per method:")
    print(f"  {'':34}{'forkserver':>12}{'spawn':>12}{'ratio':>8}")
    for key, label in (("wall", "wall, launch to pool ready (s)"), ("worker", "worker process CPU (s)"),
                       ("pool", "pool side CPU (s)"), ("total", "worker tree CPU (s)")):
        a, b = med["forkserver"][key], med["spawn"][key]
        print(f"  {label:34}{a:12.2f}{b:12.2f}{a / b if b else float('nan'):8.2f}")
    print(f"  pool side in imports of the stages: forkserver {med['forkserver']['pool'] / imp:.2f}, "
          f"spawn {med['spawn']['pool'] / imp:.2f} (processes beside the worker, the resource tracker included: "
          f"forkserver {med['forkserver']['processes']:.0f}, spawn {med['spawn']['processes']:.0f})")


if __name__ == "__main__":
    main()
