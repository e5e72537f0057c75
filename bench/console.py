"""Server time of the console with 10,000 runs in the read model: page load and refresh.

Run: .venv/bin/python bench/console.py [--runs 10000] [--scans 100] [--repeat 20]

What is timed is the worker's own work per request (building the document and encoding it as
JSON, as the views do), on a read model filled through its real `apply` with the events of
`--scans` scans holding `--runs` runs in all (a tenth of them failed, with reasons), plus 50
dead letters. HTTP framing is left out: it is the same few hundred microseconds for every page.

- page load: the console's HTML and script (read from disk per request, as the views do) plus one
  /console/summary; refresh: one /console/summary (the overview's only request);
- scan page: /scans/{id} of the largest scan (all its models), and /scans?state=finished;
- baseline, measured in the same run: the old dashboard's refresh, GET /overview plus one
  GET /scans/{id} per listed scan (20), which it sent every 3 s.

Target (issue 21): page load and refresh under 200 ms of server time.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from registry.manifest import default_manifest  # noqa: E402
from streams.worker.web import stagestats  # noqa: E402
from streams.worker.web.readmodel import ReadModel  # noqa: E402
from streams.worker.web.summary import summary  # noqa: E402
from streams.worker.web.views import STATIC  # noqa: E402

T0 = 1_764_856_987_000


def filled(runs: int, scans: int) -> ReadModel:
    rm = ReadModel(default_manifest(), serde=None)
    per_scan = runs // scans
    offset = 0
    for s in range(scans):
        scan_id = f"scan-{s:05d}"
        rm.apply("discovery-scan.requested", {"envelope": {"occurred_at": T0 + s * 60_000}, "payload": {
            "scan_id": scan_id, "bucket": "models", "prefix": f"library/{s}/", "workflow": "standard",
            "storage": "default"}}, ("model.discovery-scan.requested.v1", s % 4, s))
        for m in range(per_scan):
            run_id, model_id = f"run-{s:05d}-{m:05d}", f"model-{s:05d}-{m:05d}"
            files = [{"storage": "default", "bucket": "models", "key": f"library/{s}/{m}/part.stl", "size_bytes": 1000}]
            rm.apply("discovery.discovered", {"envelope": {"occurred_at": T0 + s * 60_000 + 100}, "payload": {
                "scan_id": scan_id, "run_id": run_id, "model_id": model_id, "name": f"part-{m}", "workflow": "standard",
                "files": files}}, ("model.discovery.discovered.v1", m % 4, offset))
            offset += 1
            if s == scans - 1 and m % 3 == 0:
                continue  # the newest scan is still running
            failed = m % 10 == 0
            payload = {"scan_id": scan_id, "run_id": run_id, "model_id": model_id, "name": f"part-{m}",
                       "workflow": "standard"}
            if failed:
                payload |= {"failed_stage": "technical-metadata",
                            "error": {"code": "corrupt_mesh", "message": "cannot parse cache/ab/cd.stl: bad header"}}
            rm.apply("processing.failed" if failed else "processing.completed",
                     {"envelope": {"occurred_at": T0 + s * 60_000 + 5_000 + m}, "payload": payload})
    rm.listed({p: 10**9 for p in range(4)}, {p: 0 for p in range(4)})
    rm.caught_up({p: 10**9 for p in range(4)})
    for i in range(50):
        rm.apply("pipeline.dead-lettered", {"envelope": {"event_id": f"dl-{i}", "occurred_at": T0 + i}, "payload": {
            "original_topic": "model.thumbnails.requested.v1", "original_key": f"run-{i}".encode(),
            "original_value": b"x" * 100, "original_partition": 0, "original_offset": i, "stage": "thumbnails",
            "error": {"code": "undecodable", "message": "not avro"}}}, ("model.pipeline.dead-lettered.v1", 0, i))
    return rm


def stages() -> dict:
    """Two workers' stage reports, as cluster_stages() sums them."""
    one = {"stages": {s: {"in": 10_000, "completed": 9_000, "failed": 1_000, "dead_letters": 5, "failed_by_code": {"x": 1000},
                          "buckets": {"0.05": 100, "0.1": 2000, "0.25": 6000, "0.5": 9000, "1": 9900, "+Inf": 10_000},
                          "rate_per_second": 3.0}
                      for s in ("discovery", "download", "technical-metadata", "thumbnails", "metamodel",
                                "print-analysis", "orchestrator")},
           "lag_by_topic": {"model.thumbnails.requested.v1": 12}, "ready": 1}
    total = {"stages": {}, "lag_by_topic": {}}
    for _ in range(2):
        stagestats.add(total, json.loads(json.dumps(one)))
    return {**total, "workers": ["http://a", "http://b"], "unreachable": []}


def timed(fn, repeat: int) -> tuple[float, float]:
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), max(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=10_000)
    ap.add_argument("--scans", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()
    t = time.perf_counter()
    rm = filled(args.runs, args.scans)
    print(f"read model: {len(rm.runs)} runs in {len(rm.scans)} scans, filled through apply() in "
          f"{time.perf_counter() - t:.1f} s")
    cluster = stages()
    largest = max(rm.scans, key=lambda s: len(rm.scans[s]["runs"]))

    def refresh():
        return json.dumps(summary(rm, cluster, None, 0), default=str).encode()

    def page_load():
        (STATIC / "console.html").read_text()
        (STATIC / "console.js").read_bytes()
        return refresh()

    def old_dashboard():
        json.dumps(rm.overview(), default=str)
        for s in rm.overview()["scans"]:
            json.dumps(rm.scan(s["scan_id"]), default=str)

    rows = [("old dashboard refresh: /overview + 20 x /scans/{id} (baseline)", timed(old_dashboard, args.repeat)),
            ("console refresh: /console/summary", timed(refresh, args.repeat)),
            ("console page load: HTML + script + /console/summary", timed(page_load, args.repeat)),
            (f"scan page: /scans/{{id}} ({len(rm.scans[largest]['runs'])} models)",
             timed(lambda: json.dumps(rm.scan(largest), default=str), args.repeat)),
            ("scan list: /scans?state=finished", timed(lambda: json.dumps(rm.scans_page("finished", 20, 0)), args.repeat))]
    base = rows[0][1][0]
    print(f"\nserver time per request, median and max of {args.repeat} (target: page load and refresh < 200 ms)")
    print(f"{'request':62} {'median ms':>10} {'max ms':>8} {'x baseline':>11}")
    for name, (med, worst) in rows:
        print(f"{name:62} {med:10.1f} {worst:8.1f} {med / base:11.2f}")
    print(f"\nsummary document: {len(refresh()) / 1024:.0f} KiB")


if __name__ == "__main__":
    main()
