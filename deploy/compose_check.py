"""What `make compose-test` checks against the running docker-compose stack, from the host.

1. The bundled samples (uploaded by the `init` service) are scanned with the host's CLI through
   the published ports; every model's terminal event arrives, one per run.
2. A heavier batch is scanned; mid-batch one worker container and one broker container (the
   leader of most pipeline partitions) are SIGKILLed; every run still finishes exactly once.
3. The `cli` service reaches a worker's API (`status`), and Prometheus scrapes every worker.

Run by deploy/compose-test.sh with the host-side MESHSTREAM_* settings in the environment.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import urllib.request
import uuid

from confluent_kafka.admin import AdminClient

from processors.discovery import StoredObject, group_models
from processors.samples import sample_models
from processors.storage import connect, put_bytes
from registry.serde import AvroSerde, registry_client
from streams.core.security import kafka_client_config
from streams.core.settings import Settings
from tests.integration.helpers import Watcher, by_scan

CHAOS_MODELS = 20


def say(msg: str) -> None:
    print(f"[compose-check] {msg}", flush=True)


def compose(project: str, *args: str, capture: bool = True) -> str:
    out = subprocess.run(["docker-compose", "-p", project, *args], capture_output=capture, text=True, check=True)
    return out.stdout if capture else ""


def cli_scan(bucket: str, prefix: str) -> str:
    """`meshstream scan` on the host, as a user types it."""
    out = subprocess.run([sys.executable, "-m", "meshstream.cli", "scan", "--bucket", bucket, "--prefix", prefix,
                          "--json"], capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["scan_id"]


def terminal_runs(records) -> tuple[dict[str, set[str]], list[dict]]:
    runs: dict[str, set[str]] = {}
    failed = []
    for name, r in records:
        runs.setdefault(r["payload"]["run_id"], set()).add(r["envelope"]["event_id"])
        if name == "processing.failed":
            failed.append(r)
    return runs, failed


def check_samples(settings: Settings, serde) -> None:
    samples = sample_models()
    expected = len(group_models([StoredObject(k, "-", len(v)) for k, v in samples.items()]))
    scan_id = cli_scan("models", "samples/")
    say(f"sample scan {scan_id} published from the host; expecting {expected} terminal events")
    watch = Watcher(settings, serde, ("processing.completed", "processing.failed"), by_scan(scan_id))
    try:
        watch.wait_for(expected, timeout=240, settle=5)
    finally:
        watch.close()
    runs, failed = terminal_runs(watch.records)
    for name, r in watch.records:
        p = r["payload"]
        say(f"  {name:22} {p.get('name', '?')[:30]:30} " + (p["error"]["code"] if name == "processing.failed" else ""))
    assert len(runs) == expected, f"{len(runs)} of {expected} sample models reached a terminal event"
    assert all(len(ids) == 1 for ids in runs.values()), "one terminal event per run"
    # the bundled corrupt.stl is the one sample that must fail, with a typed error
    assert [f["payload"]["error"]["code"] for f in failed] == ["corrupt_mesh"], [f["payload"] for f in failed]


def busiest_broker(settings: Settings) -> int:
    """The broker leading the most partitions of the pipeline's topics."""
    md = AdminClient(kafka_client_config(settings)).list_topics(timeout=10)
    leads: dict[int, int] = {}
    for name, topic in md.topics.items():
        if name.startswith("model.") or name.startswith("discovery"):
            for p in topic.partitions.values():
                leads[p.leader] = leads.get(p.leader, 0) + 1
    return max(leads, key=leads.get)


def check_kills(settings: Settings, serde, project: str) -> None:
    import trimesh

    s3 = connect(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
    prefix = f"chaos-{uuid.uuid4().hex[:8]}/"
    for i in range(CHAOS_MODELS):
        data = trimesh.creation.icosphere(subdivisions=3, radius=4.0 + i).export(file_type="stl")
        put_bytes(s3, "models", f"{prefix}sphere_{i:02d}/sphere.stl", data, "application/octet-stream")
    scan_id = cli_scan("models", prefix)
    say(f"chaos scan {scan_id}: {CHAOS_MODELS} models")
    watch = Watcher(settings, serde, ("processing.completed", "processing.failed"), by_scan(scan_id))
    try:
        watch.wait_for(3, timeout=240)
        worker = compose(project, "ps", "-q", "worker").split()[0]
        broker = f"kafka-{busiest_broker(settings)}"
        broker_id = compose(project, "ps", "-q", broker).strip()
        t0 = time.monotonic()
        subprocess.run(["docker", "kill", "--signal", "KILL", worker, broker_id], check=True, capture_output=True)
        done = watch.poll(0.5)
        say(f"SIGKILLed worker container {worker[:12]} and {broker} with {done} of {CHAOS_MODELS} runs finished")
        assert done < CHAOS_MODELS, "the kills must land mid-batch"
        # generous: on a loaded 2-core machine one run took minutes behind the fail-over
        watch.wait_for(CHAOS_MODELS, timeout=900, settle=10)
        say(f"all runs finished {time.monotonic() - t0:.1f} s after the kills")
    finally:
        watch.close()
    runs, failed = terminal_runs(watch.records)
    assert not failed, [f["payload"]["error"] for f in failed[:3]]
    assert len(runs) == CHAOS_MODELS, f"{len(runs)} of {CHAOS_MODELS} runs finished"
    split = {run: ids for run, ids in runs.items() if len(ids) != 1}
    assert not split, f"runs with more than one terminal event: {split}"
    say(f"{CHAOS_MODELS} runs, each exactly one terminal event ({len(watch.records)} records, "
        f"{len(watch.records) - CHAOS_MODELS} repeats of an event id)")
    compose(project, "start", broker)  # back to three brokers for what follows


def check_cli_service_and_prometheus(project: str, workers: int) -> None:
    status = compose(project, "run", "--rm", "cli", "status")
    say("docker-compose run --rm cli status: " + status.splitlines()[0])
    assert "ready" in status.splitlines()[0], status
    deadline = time.monotonic() + 60
    while True:
        with urllib.request.urlopen("http://127.0.0.1:9090/api/v1/targets", timeout=5) as resp:
            targets = json.load(resp)["data"]["activeTargets"]
        up = [t for t in targets if t["health"] == "up"]
        if len(up) >= workers or time.monotonic() > deadline:
            break
        time.sleep(2)
    say(f"prometheus scrapes {len(up)} workers: {sorted(t['labels']['instance'] for t in up)}")
    assert len(up) >= workers


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--project", required=True)
    parser.add_argument("--workers", type=int, default=3)
    args = parser.parse_args()
    settings = Settings()
    serde = AvroSerde(registry_client(settings))
    check_samples(settings, serde)
    check_kills(settings, serde, args.project)
    check_cli_service_and_prometheus(args.project, args.workers - 1)  # one worker was killed
    say("all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
