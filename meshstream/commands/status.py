"""`meshstream status [SCAN_ID|RUN_ID] [--json]`: what the pipeline is doing, from a worker's API."""
from __future__ import annotations

import json

from meshstream.reach import Unreachable


class NotMeshstream(Unreachable):
    """Something answers HTTP at MESHSTREAM_API_URL, but not a meshstream worker's API (exit 3,
    like a server that does not answer at all: the fix is the same address setting)."""

    def __init__(self, api: str, path: str, what: str):
        RuntimeError.__init__(self, f"the server at {api} (MESHSTREAM_API_URL) is not a meshstream worker API "
                                    f"(GET {path}: {what}); point MESHSTREAM_API_URL at a worker "
                                    "(`eval \"$(meshstream stack env)\"`, default port 6066)")
        self.component, self.address = "api", api


def _overview(api: str, get) -> dict:
    """GET /overview, refusing any answer that is not the worker API's document."""
    try:
        doc = get(api, "/overview")
    except ValueError as exc:  # a 200 whose body is not JSON (requests' JSONDecodeError is a ValueError)
        raise NotMeshstream(api, "/overview", f"not JSON: {exc}") from None
    if not isinstance(doc, dict) or not {"runs_by_state", "scans", "failures"} <= doc.keys():
        raise NotMeshstream(api, "/overview", "404" if doc is None else "not the overview document")
    return doc


def register(subparsers) -> None:
    p = subparsers.add_parser("status", help="runs by state and recent scans, or one scan or run")
    p.add_argument("id", nargs="?", help="a scan id or a run id (default: an overview)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def local_workers(api: str) -> list[tuple[int, int | None]]:
    """(web port, pid) of every worker answering /health on this host's MESHSTREAM_WEB_PORTS,
    when the API we talk to is on this host (several workers per host take 6066, 6067, ...)."""
    from urllib.parse import urlsplit

    import requests

    from meshstream.web_port import parse_range
    from streams.core.settings import Settings

    parts = urlsplit(api)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return []
    found = []
    for port in parse_range(Settings().web_ports):
        try:
            doc = requests.get(f"{parts.scheme}://{parts.hostname}:{port}/health", timeout=0.5).json()
        except (requests.RequestException, ValueError):
            continue
        if isinstance(doc, dict) and "web_port" in doc:
            found.append((port, doc.get("pid")))
    return found


def run(args) -> int:
    import sys

    from meshstream.progress import ApiError, bar, get, table
    from streams.core.settings import Settings

    api = Settings().api_url
    if args.id is None:
        doc = _overview(api, get)
        try:
            ready = get(api, "/ready")
        except ApiError:  # 503 while partitions are being (re)assigned: the line says "not ready"
            ready = {"status": "not ready"}
        if args.json:
            print(json.dumps({"ready": ready, **doc}, indent=2))
            return 0
        try:
            health = get(api, "/health") or {}
        except Exception:  # noqa: BLE001 - a stalled worker answers 503; the line says "?"
            health = {}
        print(f"worker {api}: {'ready' if ready and ready.get('status') == 'ready' else 'not ready'}"
              f" (web port {health.get('web_port', '?')}, pid {health.get('pid', '?')})")
        local = local_workers(api)
        if len(local) > 1:
            print(f"workers on this host: {', '.join(f'{port} (pid {pid})' for port, pid in local)}")
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
