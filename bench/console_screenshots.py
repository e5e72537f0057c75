"""Screenshots of every console page, taken while a batch of >= 100 models is being processed.

Run: .venv/bin/python bench/console_screenshots.py [--models 110] [--out docs/images]

On a fresh private stack (as bench/pipeline.py), one worker; a finished small scan, an empty one,
a refused request's dead letter (a poison record) and its replay, then the batch (varied meshes
plus a few corrupt files, standard workflow). Once a share of the batch is done, headless
Chromium (Debian's, driven by Playwright) saves the overview, the batch's scan page, a run, a
model and the workflow graphs as docs/images/console-*.png.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests  # noqa: E402

from bench.pipeline import build_models, private_stack  # noqa: E402

TOKEN = "screenshots-" + uuid.uuid4().hex[:8]


def wait_for(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = check()
        if got:
            return got
        time.sleep(1)
    raise TimeoutError(what)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", type=int, default=110)
    ap.add_argument("--out", type=Path, default=Path("docs/images"))
    ap.add_argument("--at-done", type=float, default=0.35, help="share of the batch done when the pictures are taken")
    args = ap.parse_args()
    from confluent_kafka import Producer

    from meshstream.worker_process import WorkerProcess, free_port
    from processors.samples import sample_models
    from processors.storage import connect
    from registry.manifest import default_manifest
    from streams.core.settings import Settings
    from tests.integration.browser import browser
    from tests.integration.helpers import upload

    args.out.mkdir(parents=True, exist_ok=True)
    with private_stack() as stack, tempfile.TemporaryDirectory() as logs:
        port = free_port()
        env = {**stack.config.client_env(), "MESHSTREAM_APP_ID": f"shots-{uuid.uuid4().hex[:6]}",
               "MESHSTREAM_WEB_PORT": str(port), "MESHSTREAM_API_TOKEN": TOKEN}
        settings = Settings.from_env(env)
        url = f"http://127.0.0.1:{port}"
        worker = WorkerProcess(env, Path(logs) / "worker.log").start(300)
        try:
            s3 = connect(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
            samples = sample_models()
            auth = {"Authorization": f"Bearer {TOKEN}"}

            def scan(prefix):
                r = requests.post(url + "/scans", json={"bucket": "models", "prefix": prefix}, headers=auth, timeout=10)
                r.raise_for_status()
                return r.json()["scan_id"]

            upload(s3, "models", {f"shelf/{k}": samples[k] for k in ("cube_10mm.stl", "sphere_r5.stl", "corrupt.stl")})
            small = scan("shelf/")
            scan("nothing-here/")
            wait_for(lambda: requests.get(f"{url}/scans/{small}", timeout=10).json().get("status") == "finished", 240,
                     "small scan")
            producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
            producer.produce(default_manifest().by_name("thumbnails.requested").topic, key=b"hand-made", value=b"not avro")
            producer.flush(10)
            del producer  # it would keep reconnecting after the stack is gone
            letter = wait_for(lambda: requests.get(url + "/overview", timeout=10).json()["dead_letters"], 60, "dead letter")[0]
            requests.post(f"{url}/dead-letters/{letter['partition']}/{letter['offset']}/replay", headers=auth, timeout=10)

            batch = {f"library/{k}": v for k, v in build_models(args.models - 4).items()}
            batch |= {f"library/broken-{i}/broken_{i}.stl": samples["corrupt.stl"] for i in range(4)}
            upload(s3, "models", batch)
            big = scan("library/")
            target = int(args.at_done * args.models)
            wait_for(lambda: (requests.get(f"{url}/scans/{big}", timeout=10).json().get("progress") or {}).get("done", 0)
                     >= target, 900, "batch progress")  # 404 until the worker has read the request
            info = requests.get(f"{url}/scans/{big}", timeout=10).json()
            done = next(m for m in info["models"] if m["state"] == "completed")
            failed_run = next((m for m in info["models"] if m["state"] == "failed"), done)
            print(f"batch {big}: {info['progress']} of {info['models_discovered']} models when the pictures were taken")
            with browser(1400, 900) as page:
                shots = [("overview", "/", "#stages tbody tr"), ("scan", f"/#/scan/{big}", "#models tbody tr"),
                         ("run", f"/#/run/{failed_run['run_id']}", "#steps tr.step"),
                         ("model", f"/#/model/{done['model_id']}", "#images img"),
                         ("workflows", "/#/workflows", ".workflow-graph svg")]
                for name, path, ready in shots:
                    page.goto(url + path)
                    page.wait_for_selector(ready, timeout=30_000)
                    if name == "model":
                        page.wait_for_function("[...document.querySelectorAll('#images img')].every(i => i.complete && i.naturalWidth > 0)")
                    time.sleep(1.5)
                    out = args.out / f"console-{name}.png"
                    page.screenshot(path=str(out), full_page=name != "scan")
                    print("wrote", out)
                assert not page.errors, page.errors
        finally:
            worker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
