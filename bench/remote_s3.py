"""Processor slots against an object store far away: one worker on one core, one batch per
MESHSTREAM_PROCESSOR_SLOTS value, all in one run.

Run: .venv/bin/python bench/remote_s3.py [--models 40] [--workflow standard] [--delay-ms 5] [--slots 1 2 4]

The worker reaches the stack's S3 server through bench/delay_proxy.py, which delays every chunk
by --delay-ms each way (a round trip of twice that; the proxy runs on another core than the
worker). A step makes about 24 S3 requests per standard model, so with one step per pool process
its core idles for most of the wall; with more slots the steps of a process take turns at
computing and one computes while the others wait (streams/execution/turns.py). Prints, per slots
value, the wall of the batch (scan to last terminal event), efficiency = pure CPU / wall on the
one core, worker CPU / pure CPU, and the wall as a ratio to the first value's, measured in the
same run (bench/pipeline.py says how the pure CPU is measured).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pipeline  # noqa: E402
from stack.config import free_port  # noqa: E402

HERE = Path(__file__).resolve().parent


@contextlib.contextmanager
def delayed_s3(env: dict, cpu: int, delay_ms: float):
    """A delay proxy in front of env's S3 endpoint, pinned to `cpu`; yields the proxy's endpoint."""
    host, port = env["MESHSTREAM_S3_ENDPOINT"].split("//")[-1].rsplit(":", 1)
    listen = free_port()
    proxy = subprocess.Popen(["taskset", "-c", str(cpu), sys.executable, str(HERE / "delay_proxy.py"), str(listen), host,
                              port, str(delay_ms)], stdout=subprocess.PIPE, text=True)
    try:
        if proxy.stdout.readline().strip() != "ready":
            raise RuntimeError("bench/delay_proxy.py did not start")
        yield f"127.0.0.1:{listen}"
    finally:
        proxy.kill()
        proxy.wait()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=40)
    ap.add_argument("--workflow", default="standard")
    ap.add_argument("--delay-ms", type=float, default=5.0, help="one-way delay to the S3 server")
    ap.add_argument("--slots", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("bench/remote_s3.py needs two cores: the worker on one, the stack and the proxy on the other")
    worker_cpu, stack_cpu = cpus[0], cpus[-1]
    models = pipeline.build_models(args.models)
    warm = pipeline.build_models(10, seed=11)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-remote-s3-"))

    @contextlib.contextmanager
    def through_proxy(env: dict, workers: list[dict], log_dir: Path):
        with delayed_s3(env, stack_cpu, args.delay_ms) as endpoint:
            workers = [{**w, "env": {**w.get("env", {}), "MESHSTREAM_S3_ENDPOINT": endpoint}} for w in workers]
            with pipeline.started_workers(env, workers, log_dir) as procs:
                yield procs

    print(f"{args.models} models, {args.workflow} workflow, S3 {args.delay_ms:g} ms away (one way), one worker on core "
          f"{worker_cpu}; logs in {log_dir}")
    first_wall = None
    for slots in args.slots:
        before = pipeline.serial_cpu(models, args.workflow)
        run = pipeline.run_pipeline(models, args.workflow, [{"env": {"MESHSTREAM_PROCESSOR_SLOTS": str(slots)},
                                                              "cpus": {worker_cpu}}], log_dir, warm_up=warm,
                                     start_workers=through_proxy)
        pure = (before + pipeline.serial_cpu(models, args.workflow)) / 2
        first_wall = first_wall or run["wall"]
        print(f"slots {slots}: wall {run['wall']:.2f} s ({run['wall'] / first_wall:.2f}x slots {args.slots[0]}), "
              f"efficiency {pure / run['wall']:.2f}, worker CPU / pure {sum(run['cpu']) / pure:.2f}, "
              f"runs {run['runs']} ({run['failed']} failed)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
