"""`meshstream status [SCAN_ID|RUN_ID] [--json]`: what the pipeline is doing, from a worker's API."""
from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser("status", help="runs by state and recent scans, or one scan or run")
    p.add_argument("id", nargs="?", help="a scan id or a run id (default: an overview)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args) -> int:
    import sys

    from meshstream.progress import bar, get, table
    from streams.core.settings import Settings

    api = Settings().api_url
    if args.id is None:
        doc = get(api, "/overview")
        ready = get(api, "/ready")
        if args.json:
            print(json.dumps({"ready": ready, **doc}, indent=2))
            return 0
        print(f"worker {api}: {'ready' if ready and ready.get('status') == 'ready' else 'not ready'}")
        print("runs: " + (", ".join(f"{k} {v}" for k, v in doc["runs_by_state"].items()) or "none yet"))
        for s in doc["scans"][:10]:
            print(f"  scan {s['scan_id']}  {bar(s)}")
        for f in doc["failures"][:5]:
            print(f"  failed {f['name']} at {f.get('at')}: {f.get('reason') or (f.get('error') or {}).get('code')}")
        return 0
    scan = get(api, f"/scans/{args.id}")
    if scan is not None:
        print(json.dumps(scan, indent=2) if args.json else f"scan {scan['scan_id']}  {bar(scan)}\n{table(scan)}")
        return 0
    found = get(api, f"/runs/{args.id}")
    if found is None:
        print(f"meshstream status: no scan or run {args.id} known to the workers at {api}", file=sys.stderr)
        return 2
    run = found["run"]
    if args.json:
        print(json.dumps(run, indent=2))
        return 0
    print(f"run {run.get('run_id')}  model {run.get('name')} ({run.get('model_id')})  workflow {run.get('workflow')}  "
          f"{run.get('terminal') or 'running'}")
    print(f"  started {run.get('started_at')}  finished {run.get('finished_at') or '-'}  "
          f"duration {run.get('duration_seconds')} s")
    for stage, step in (run.get("steps") or {}).items():
        err = step.get("error") or {}
        took = f"{step['duration_seconds']:.2f} s" if step.get("duration_seconds") is not None else "-"
        print(f"  {stage:20} {step.get('status', ''):10} attempts {step.get('attempts', 0)}  {took:>9}"
              + (f"  {err.get('code')}: {err.get('message') or ''}" if err else ""))
    return 0
