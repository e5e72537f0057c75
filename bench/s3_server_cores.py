"""The local S3 server's CPU per request with its Go runtime on every core against one core.

Run: .venv/bin/python bench/s3_server_cores.py [--requests 400] [--rounds 3] [--size 20000] [--cores 0 1]

Starts the stack's own S3 server (stack/services.py S3Server, SeaweedFS `weed mini`) once per
--cores value (MESHSTREAM_STACK_S3_CORES: GOMAXPROCS, 0 = every core), alternately, --rounds
times, and through the minio SDK measures the server's CPU (its /proc stat) per request for
PUTs of --size bytes one after another, GETs of them one after another, and PUTs from four
client threads, beside the client's wall per request. The pipeline's requests come like the
serial ones: a step waits for each answer. Prints each round and the median ratio of every
value's CPU to the first value's, measured in the same run.
"""
from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from minio import Minio  # noqa: E402

from stack.config import StackConfig  # noqa: E402
from stack.services import S3Server  # noqa: E402


def server_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def measure(cores: int, requests: int, size: int) -> dict[str, tuple[float, float]]:
    """{phase: (server CPU ms per request, client wall ms per request)} for one server start."""
    with tempfile.TemporaryDirectory(prefix="meshstream-s3-bench-") as tmp:
        config = replace(StackConfig().with_free_ports(Path(tmp)), s3_cores=cores)
        server = S3Server(config)
        server.start()
        try:
            server.wait()
            pid = server.process.pid()
            client = Minio(server.endpoint(), access_key=config.s3_access_key, secret_key=config.s3_secret_key, secure=False)
            client.make_bucket("bench")
            data = os.urandom(size)

            def put(key: str) -> None:
                client.put_object("bench", key, io.BytesIO(data), len(data))

            for i in range(50):
                put(f"warm-up/{i}")
            time.sleep(2)
            out = {}
            phases = {
                "PUT, serial": lambda: [put(f"serial/{i}") for i in range(requests)],
                "GET, serial": lambda: [client.get_object("bench", f"serial/{i}").read() for i in range(requests)],
                "PUT, 4 threads": lambda: list(ThreadPoolExecutor(4).map(lambda i: put(f"threads/{i}"), range(requests))),
            }
            for name, run in phases.items():
                cpu0, t0 = server_cpu(pid), time.monotonic()
                run()
                out[name] = (1000 * (server_cpu(pid) - cpu0) / requests, 1000 * (time.monotonic() - t0) / requests)
            return out
        finally:
            server.process.stop()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--requests", type=int, default=400)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--size", type=int, default=20000)
    ap.add_argument("--cores", type=int, nargs="+", default=[0, 1])
    args = ap.parse_args()
    print(f"S3 server CPU per request, {args.requests} requests of {args.size} bytes per phase, {os.cpu_count()} cores")
    results: dict[int, list[dict]] = {c: [] for c in args.cores}
    for round_ in range(args.rounds):
        for cores in args.cores:
            r = measure(cores, args.requests, args.size)
            results[cores].append(r)
            print(f"round {round_ + 1} cores {cores or 'all'}: " + ", ".join(
                f"{phase} {cpu:.2f} ms CPU ({wall:.2f} ms wall)" for phase, (cpu, wall) in r.items()), flush=True)
    base = args.cores[0]
    for cores in args.cores[1:]:
        ratios = {phase: statistics.median(r[phase][0] / b[phase][0] for r, b in zip(results[cores], results[base]))
                  for phase in results[base][0]}
        print(f"cores {cores or 'all'} vs {base or 'all'}, median CPU ratio: "
              + ", ".join(f"{phase} {ratio:.2f}x" for phase, ratio in ratios.items()))


if __name__ == "__main__":
    main()
