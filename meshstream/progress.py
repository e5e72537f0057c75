"""Scan progress and summaries for the terminal, from the worker API's JSON (GET /scans/{id})."""
from __future__ import annotations

import sys
import time

import requests


class ApiError(RuntimeError):
    """The worker API answered with an error status."""


def get(api_url: str, path: str) -> dict | None:
    """GET a JSON document from the worker API; None for 404."""
    resp = requests.get(api_url.rstrip("/") + path, timeout=10)
    if resp.status_code == 404:
        return None
    if resp.status_code >= 400:
        raise ApiError(f"{path}: HTTP {resp.status_code}: {resp.text[:200]}")
    return resp.json()


def bar(scan: dict, width: int = 30) -> str:
    done, total = scan["progress"]["done"], scan["progress"]["total"]
    filled = int(width * done / total) if total else 0
    failed = scan["runs_by_state"].get("failed", 0)
    line = f"[{'#' * filled}{'-' * (width - filled)}] {done}/{total} models done, {failed} failed ({scan['status']})"
    if scan.get("error"):  # the scan itself was refused (dead-lettered by discovery)
        line += f": {scan['error'].get('code')}: {scan['error'].get('message')}"
    elif scan["status"] == "finished" and scan.get("models_found") == 0:
        line += ": no models found"
    return line


def failed(scan: dict) -> bool:
    """Whether a finished scan should make `scan --wait` exit non-zero: it was refused, or models failed."""
    return scan["status"] == "failed" or scan["runs_by_state"].get("failed", 0) > 0


def wait(api_url: str, scan_id: str, timeout: float, show: bool = True, interval: float = 1.0) -> dict:
    """Poll the scan until every discovered model has finished; a bar on stderr meanwhile."""
    deadline = time.monotonic() + timeout
    scan = None
    while time.monotonic() < deadline:
        scan = get(api_url, f"/scans/{scan_id}")
        if scan is not None:
            if show and sys.stderr.isatty():
                print("\r" + bar(scan), end="", file=sys.stderr, flush=True)
            if scan["status"] in ("finished", "failed"):
                break
        time.sleep(interval)
    if show:
        print(("\r" if sys.stderr.isatty() else "") + (bar(scan) if scan else "scan not seen by the workers yet"),
              file=sys.stderr, flush=True)
    if scan is None or scan["status"] not in ("finished", "failed"):
        raise TimeoutError(f"scan {scan_id} not finished after {timeout:.0f} s "
                           f"({'no models discovered yet' if not scan or not scan['models_discovered'] else bar(scan)})")
    return scan


def table(scan: dict) -> str:
    rows = [("model", "state", "detail")]
    for m in scan.get("models") or []:
        err = m.get("error") or {}
        # the reason in full (it names the source s3:// key); never cut mid-path
        detail = m.get("reason") or (f"{m.get('failed_stage')}: {err.get('code')}: {err.get('message') or ''}" if err else "")
        rows.append((m.get("name") or m["model_id"], m.get("state") or "", detail))
    widths = [max(len(str(r[i])) for r in rows) for i in range(2)]
    return "\n".join(f"{r[0]:{widths[0]}}  {r[1]:{widths[1]}}  {r[2]}".rstrip() for r in rows)
