"""`make stress` (python -m stress): >= 1,000 hostile inputs against a private real stack and one
real worker; prints counts by outcome and code, unexpected outcomes, worker restarts and peak RSS.
Exit status 1 when anything was unexpected, the worker died, or an input got no outcome."""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

BYTE_LIMIT = 48 * 1024 * 1024  # the worker's MESHSTREAM_MAX_OBJECT_BYTES in this run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stress", description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait for all outcomes")
    args = parser.parse_args(argv)

    from meshstream.worker_process import WorkerProcess
    from processors.storage import connect
    from registry.manifest import default_manifest
    from stack.config import StackConfig
    from stack.manager import LocalStack
    from streams.core.settings import Settings
    from streams.worker.main import prepare
    from stress.harness import Harness
    from stress.hostile import generate
    from stress.memory import PeakRss

    t0 = time.monotonic()
    inputs = generate(default_manifest(), args.count, args.seed, tag=f"stress{uuid.uuid4().hex[:6]}", big=True)
    print(f"generated {len(inputs)} hostile inputs in {time.monotonic() - t0:.1f} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="meshstream-stress-") as tmp:
        local = LocalStack(StackConfig().with_free_ports(Path(tmp)))
        worker = None
        try:
            local.up()
            env = {**local.config.client_env(), "MESHSTREAM_APP_ID": "meshstream-stress",
                   "MESHSTREAM_MAX_OBJECT_BYTES": str(BYTE_LIMIT), "MESHSTREAM_STEP_TIMEOUT_CAP": "120"}
            settings = Settings.from_env(env)
            prepare(settings)
            worker = WorkerProcess(env, Path(tmp) / "worker.log").start()
            pid = worker.proc.pid
            s3 = connect(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
            harness = Harness(settings, s3)
            with PeakRss(pid) as rss:
                traces = harness.feed(inputs)
                print(f"published {len(traces)} inputs; waiting for outcomes", flush=True)
                report = harness.collect(traces, args.timeout, alive=lambda: worker.alive)
            harness.close()
            restarts = 0 if worker.alive and worker.proc.pid == pid else 1
            for line in report.lines():
                print(line)
            print("outcomes by category (first 60):")
            for cat, counts in sorted(report.by_category.items())[:60]:
                print(f"  {cat:32s} " + ", ".join(f"{o}={n}" for o, n in counts.most_common()))
            print(f"worker restarts: {restarts}")
            print(f"worker peak RSS: {rss.peak_kb / 1024:.0f} MiB (process tree, sampled; includes VmHWM)")
            bad = report.unexpected or restarts or report.outcomes["missing"]
            if bad:
                print(f"worker log: tail\n{worker.log()[-3000:]}", file=sys.stderr)
            return 1 if bad else 0
        finally:
            if worker is not None:
                worker.stop()
            local.down()


if __name__ == "__main__":
    sys.exit(main())
