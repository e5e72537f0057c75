"""Scans of library size: one scan of N tiny models (minimal workflow) and one of M mixed models
(standard workflow), with one worker and with two, on a fresh private stack each (issue 18).

Run: .venv/bin/python bench/scale.py [--tiny 10000] [--mixed 1000] [--skip-two]

For each scan it prints, beside the same figure of the one-worker run (a ratio where one makes
sense):
- wall (scan published -> last terminal event) and models per second;
- worker peak RSS: VmHWM of the worker process and of each of its pool processes (/proc), and
  the worker's growth over its RSS when it became ready, per run of the scan: the run table
  holds every run of the scan (bytes per run x runs), the pool processes' memo of parsed meshes
  is bounded (128 MiB each), so that growth per run is the figure that says whether memory is
  bounded for a library of a given size;
- the run table: records on the `<app id>-workflow-runs-changelog` topic and the runs in the
  table at the end (the `meshstream_runs` gauge of every worker);
- requests per run per stage: records on each `<stage>.requested` topic / runs (goal: 1.00;
  a fresh stack per configuration, so the topics hold this scan only);
- the in-flight bound: the largest `meshstream_steps{status="queued"}` (requested, not started)
  and `{status="requested"}` (all out) of any stage sampled from each worker's /metrics every
  second, beside the admission floor on queued requests (MESHSTREAM_ADMISSION_PER_STAGE,
  default one per pool process of the worker; started steps are bounded by the pool). The gauge
  is refreshed every 5 s from the run table, so it is a sample, not every instant.

Configurations: one worker limited to one core (CPU affinity; the stack has the other core) and
two workers limited to one core each, in one consumer group (as bench/pipeline.py: the ratio is
scale-out, not more pool processes on the same cores).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.pipeline import (  # noqa: E402 - after the path insert
    await_terminals, build_models, private_stack, process_cpu, started_workers, tiny_models, topic_records, tree_cpu,
    tree_pids,
)

STAGES = {"minimal": ("download", "technical-metadata", "thumbnails"),
          "standard": ("download", "technical-metadata", "thumbnails", "metamodel")}
MIB = 1024 * 1024


def status_kib(pid: int, field: str) -> int | None:
    """A /proc/<pid>/status field in KiB (VmHWM: peak resident set; VmRSS: current)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def scrape(port: int) -> dict[tuple[str, tuple], float]:
    """{(metric sample name, sorted labels): value} of a worker's /metrics."""
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def gauge(samples: dict, name: str, **labels) -> list[float]:
    """Values of metric `name` whose labels include `labels`."""
    want = set(labels.items())
    return [v for (n, ls), v in samples.items() if n == name and want <= set(ls)]


class Sampler(threading.Thread):
    """Every second: each worker process tree's peak RSS (per pid, so pool processes that exited
    still count) and each worker's in-flight steps per stage from its /metrics."""

    def __init__(self, procs, ports):
        super().__init__(daemon=True)
        self.procs, self.ports = procs, ports
        self.hwm: list[dict[int, int]] = [{} for _ in procs]     # per worker: pid -> VmHWM KiB
        self.in_flight: list[dict[str, float]] = [{} for _ in procs]  # per worker: stage -> max requested
        self.queued: list[dict[str, float]] = [{} for _ in procs]     # per worker: stage -> max queued
        self.stop = threading.Event()

    def sample(self) -> None:
        for i, (proc, port) in enumerate(zip(self.procs, self.ports)):
            for pid in tree_pids(proc.proc.pid):
                kib = status_kib(pid, "VmHWM")
                if kib is not None:
                    self.hwm[i][pid] = max(self.hwm[i].get(pid, 0), kib)
            try:
                samples = scrape(port)
            except OSError:
                continue
            for (name, labels), value in samples.items():
                ls = dict(labels)
                if name == "meshstream_steps" and ls.get("status") in ("requested", "queued"):
                    seen = (self.in_flight if ls["status"] == "requested" else self.queued)[i]
                    seen[ls["stage"]] = max(seen.get(ls["stage"], 0), value)

    def run(self) -> None:
        while not self.stop.wait(1.0):
            self.sample()


def upload_many(s3, files: dict[str, bytes]) -> None:
    """Upload with a few threads (10,000 sequential puts take minutes)."""
    from tests.integration.helpers import upload

    upload(s3, "models", {})  # the bucket
    items = list(files.items())
    chunks = [dict(items[i::8]) for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda chunk: upload(s3, "models", chunk), chunks))


def run_scan(models: dict[str, bytes], workflow: str, cpus: list[set[int]], log_dir: Path) -> dict:
    """One scan of `models` on a fresh stack with one worker per entry of `cpus`."""
    from processors.storage import connect
    from streams.client import Publisher, Subscriber
    from streams.core.names import RUNS_TABLE, STEP_STARTED
    from streams.core.settings import Settings
    from meshstream.worker_process import free_port
    from registry.manifest import default_manifest

    with private_stack() as stack:
        app_id = f"scale-{uuid.uuid4().hex[:6]}"
        env = {**stack.config.client_env(), "MESHSTREAM_APP_ID": app_id}
        settings = Settings.from_env(env)
        s3 = connect(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
        prefix = "scale/"
        upload_many(s3, {prefix + k: v for k, v in models.items()})
        expected = len({k.split("/")[0] for k in models})
        ports = [free_port() for _ in cpus]
        workers = [{"cpus": c, "env": {"MESHSTREAM_WEB_PORT": str(port)}} for c, port in zip(cpus, ports)]
        with started_workers(env, workers, log_dir) as procs:
            sub = Subscriber(settings=settings, from_beginning=True)
            time.sleep(2.0)  # let the group settle after the last join
            ready_rss = [status_kib(p.proc.pid, "VmRSS") for p in procs]
            sampler = Sampler(procs, ports)
            sampler.start()
            degraded = []
            cpu0 = [tree_cpu(p.proc.pid) for p in procs]
            main0 = [process_cpu(p.proc.pid) for p in procs]
            t0 = time.monotonic()
            scan_id = Publisher(settings).scan("models", prefix, workflow=workflow)
            try:
                done, failed, last = await_terminals(
                    sub, scan_id, expected, timeout=3600,
                    on_event=lambda ev: degraded.append(1) if ev.payload.get("degraded") else None)
            finally:
                sub.close()
            wall = last - t0
            cpu = [tree_cpu(p.proc.pid) - c for p, c in zip(procs, cpu0)]
            main_cpu = [process_cpu(p.proc.pid) - c for p, c in zip(procs, main0)]
            time.sleep(6.0)  # the run gauges refresh every 5 s
            sampler.sample()
            sampler.stop.set()
            final = [scrape(port) for port in ports]
            table_runs = sum(sum(gauge(samples, "meshstream_runs")) for samples in final)
            main_hwm = [status_kib(p.proc.pid, "VmHWM") for p in procs]
            manifest = default_manifest()
            requested = {s: manifest.by_name(f"{s}.requested").topic for s in STAGES[workflow]}
            changelog = f"{app_id}-{RUNS_TABLE}-changelog"
            beats = manifest.by_name(STEP_STARTED).topic
            counts = topic_records(settings.kafka_bootstrap, [*requested.values(), changelog, beats])
    if done < expected:
        raise RuntimeError(f"only {done}/{expected} runs finished")
    pools = [max([kib for pid, kib in hwm.items() if pid != p.proc.pid] or [0]) for hwm, p in zip(sampler.hwm, procs)]
    return {"wall": wall, "runs": done, "failed": failed, "degraded": len(degraded),
            "main_hwm": main_hwm, "pool_hwm": pools, "ready_rss": ready_rss,
            "changelog": counts[changelog], "table_runs": table_runs, "beats": counts[beats],
            "per_stage": {s: counts[t] / done for s, t in requested.items()},
            "in_flight": [max(f.values() or [0]) for f in sampler.in_flight],
            "queued": [max(f.values() or [0]) for f in sampler.queued],
            "limits": [admission_limit(Settings.from_env({**os.environ, **env}), c) for c in cpus], "cpu": cpu,
            "main_cpu": main_cpu}


def admission_limit(settings, cpus: set[int]) -> str:
    """The limit on queued requests per stage of a worker's orchestrator (the workers inherit
    this environment): MESHSTREAM_ADMISSION_PER_STAGE (fixed), else one per pool slot
    (MESHSTREAM_PROCESSOR_PROCESSES or one per core of its affinity, x MESHSTREAM_PROCESSOR_SLOTS,
    streams.execution.pool) as the floor, raised for short steps up to 16x
    (MESHSTREAM_ADMISSION_QUEUE_SECONDS of work)."""
    if settings.admission_per_stage:
        return str(settings.admission_per_stage)
    from streams.execution.pool import slots_per_process

    floor = (settings.processor_processes or len(cpus)) * slots_per_process(settings)
    return f"{floor}-{16 * floor}" if settings.admission_queue_seconds else str(floor)


def report(title: str, results: dict[str, dict]) -> None:
    one = results["1 worker"]
    print(f"\n{title}")

    def row(label: str, fmt, key=None, ratio=True):
        cells = []
        for name, r in results.items():
            cells.append(f"{name}: {fmt(r)}")
        extra = ""
        if ratio and key and len(results) > 1:
            extra = "  (" + ", ".join(f"{n} / 1 worker {key(r) / key(one):.2f}x" for n, r in results.items() if n != "1 worker") + ")"
        print(f"  {label:44s}" + "   ".join(cells) + extra)

    row("wall", lambda r: f"{r['wall']:.1f} s")
    row("models/s", lambda r: f"{r['runs'] / r['wall']:.1f}", key=lambda r: r["runs"] / r["wall"])
    row("worker CPU / wall (cores busy)", lambda r: ", ".join(f"{c / r['wall']:.2f}" for c in r["cpu"]), ratio=False)
    row("workers' CPU per model (with their pools)", lambda r: f"{sum(r['cpu']) / r['runs'] * 1000:.1f} ms",
        key=lambda r: sum(r["cpu"]) / r["runs"])
    row("  of which the worker processes (events)", lambda r: f"{sum(r['main_cpu']) / r['runs'] * 1000:.1f} ms",
        key=lambda r: sum(r["main_cpu"]) / r["runs"])
    row("runs finished / failed / degraded", lambda r: f"{r['runs']} / {r['failed']} / {r['degraded']}", ratio=False)
    row("worker peak RSS (VmHWM, per worker)", lambda r: ", ".join(f"{k / 1024:.0f} MiB" for k in r["main_hwm"]),
        key=lambda r: max(r["main_hwm"]))
    row("  at ready (VmRSS)", lambda r: ", ".join(f"{k / 1024:.0f} MiB" for k in r["ready_rss"]), ratio=False)
    row("  growth per run of the scan", lambda r: f"{growth_per_run(r) / 1024:.1f} KiB", ratio=False)
    row("pool process peak RSS (largest)", lambda r: ", ".join(f"{k / 1024:.0f} MiB" for k in r["pool_hwm"]),
        key=lambda r: max(r["pool_hwm"]))
    row("run-table changelog records", lambda r: f"{r['changelog']:,} ({r['changelog'] / r['runs']:.2f}/run)", ratio=False)
    row("runs in the table at the end", lambda r: f"{r['table_runs']:,.0f}", ratio=False)
    row("step-started events (beats) per run", lambda r: f"{r['beats'] / r['runs']:.2f}", ratio=False)
    row("requests per run per stage", lambda r: " ".join(f"{s} {v:.2f}" for s, v in r["per_stage"].items()), ratio=False)
    row("per stage, max sampled: queued / limit", lambda r: ", ".join(f"{q:.0f} / {lim}" for q, lim in zip(r["queued"], r["limits"])),
        ratio=False)
    row("  requested (queued + started)", lambda r: ", ".join(f"{m:.0f}" for m in r["in_flight"]), ratio=False)


def growth_per_run(r: dict) -> float:
    """KiB the largest worker grew over its RSS at ready, per run it owned (runs spread evenly)."""
    per_worker = r["runs"] / len(r["main_hwm"])
    return max(h - s for h, s in zip(r["main_hwm"], r["ready_rss"])) / per_worker * 1024


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tiny", type=int, default=10_000, help="tiny models on the minimal workflow (0: skip)")
    ap.add_argument("--mixed", type=int, default=1_000, help="mixed models on the standard workflow (0: skip)")
    ap.add_argument("--skip-two", action="store_true", help="skip the two-worker configurations")
    args = ap.parse_args()
    cpu_ids = sorted(os.sched_getaffinity(0))
    configs = {"1 worker": [{cpu_ids[0]}]}
    if not args.skip_two and len(cpu_ids) >= 2:
        configs["2 workers"] = [{cpu_ids[0]}, {cpu_ids[1]}]
    log_dir = Path(tempfile.mkdtemp(prefix="meshstream-scale-logs-"))
    print(f"{len(cpu_ids)} cores; each worker limited to one core; worker logs: {log_dir}")
    for n, workflow, build in ((args.tiny, "minimal", tiny_models), (args.mixed, "standard", build_models)):
        if not n:
            continue
        models = build(n)
        results = {name: run_scan(models, workflow, cpus, log_dir) for name, cpus in configs.items()}
        report(f"{n:,} {'tiny' if build is tiny_models else 'mixed'} models, {workflow} workflow, one scan", results)
    print("\nmemory bound: the worker's run table holds every run of the scan (finished ones until "
          "MESHSTREAM_RUN_RETENTION_SECONDS), so a worker grows by about 'growth per run' x the runs it owns; "
          "each pool process's parsed-mesh memo is bounded at 128 MiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
