"""`make demo`: the whole product in one command, on the local stack.

Starts what is not running (stack, one worker), uploads the bundled samples, publishes one scan,
prints one line per model as its terminal event arrives, and stops what it started.
"""
from __future__ import annotations

import time
import uuid

from streams.core.settings import Settings
from meshstream.worker_process import WorkerProcess
from stack.config import StackConfig
from stack.manager import LocalStack


def _line(contract: str, p: dict) -> str:
    if contract == "processing.completed":
        md = p.get("metadata") or {}
        vol = md.get("volume")
        results = p.get("results", [])
        where = f"s3://{results[0]['bucket']}/{p['model_id']}/ ({len(results)} objects)" if results else "-"
        return (f"{p['model_id'][:16]:16}  {p['name'][:28]:28}  {md.get('triangles', 0):>9}  "
                f"{(f'{vol:.3f}' if vol is not None else 'n/a'):>12}  {str(md.get('watertight')):10}  completed  {where}")
    err = p["error"]
    return (f"{p['model_id'][:16]:16}  {p['name'][:28]:28}  {'-':>9}  {'-':>12}  {'-':10}  "
            f"failed     {p['failed_stage']}: {err['code']}: {err['message'][:80]}")


def run_demo(keep: bool = False, timeout: float = 300.0) -> int:
    from processors.discovery import group_models
    from processors.samples import sample_models
    from processors.discovery import StoredObject
    from processors.storage import connect, put_bytes
    from streams.client import TERMINAL, Publisher, Subscriber
    from streams.worker.main import prepare

    config = StackConfig()
    stack = LocalStack(config)
    print("starting the local stack (first run fetches Kafka and the registry; later runs reuse the cache) ...", flush=True)
    started = stack.up()
    print(f"stack: {', '.join(started) or 'already running'}", flush=True)
    settings = Settings.from_env(config.client_env())
    worker = None
    try:
        prepare(settings)
        worker = WorkerProcess(config.client_env(), config.logs_dir / "demo-worker.log").start()
        print(f"worker: pid {worker.proc.pid}, log {worker.log_path}", flush=True)

        samples = sample_models()
        prefix = f"demo/{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:6]}/"
        s3 = connect(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
        for key, data in samples.items():
            put_bytes(s3, "models", prefix + key, data, "application/octet-stream")
        expected = len(group_models([StoredObject(k, "-", len(v)) for k, v in samples.items()]))
        print(f"uploaded {len(samples)} files to s3://models/{prefix} ({expected} models)", flush=True)

        subscriber = Subscriber(TERMINAL, settings=settings, from_beginning=True)
        scan_id = Publisher(settings).scan("models", prefix)
        print(f"published scan {scan_id}; waiting for completion events ...\n", flush=True)
        print(f"{'model':16}  {'name':28}  {'triangles':>9}  {'volume mm3':>12}  {'watertight':10}  status     results")
        seen = 0
        for ev in subscriber.events(timeout=timeout):
            if ev.payload["scan_id"] != scan_id:
                continue
            print(_line(ev.contract, ev.payload), flush=True)
            seen += 1
            if seen == expected:
                break
        subscriber.close()
        if seen < expected:
            print(f"\nonly {seen} of {expected} models finished within {timeout:.0f}s; see {worker.log_path}")
            return 1
        print(f"\n{seen} models processed. Results bucket: s3://{settings.results_bucket}/ ; logs: {config.logs_dir}")
        return 0
    finally:
        if worker is not None:
            worker.stop()
        if keep:
            print("KEEP=1: the stack stays up (`meshstream stack down` stops it)")
        elif started:
            stack.down()
            print(f"stopped what the demo started: {', '.join(started)}")
