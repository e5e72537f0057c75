"""The worker's HTTP API, metrics and probes against the real stack, with two real workers in one
consumer group: 202 + polling to completion, 400/422/401, GET /runs/{id} answered by either
worker (Faust table routing), model links that really download, metrics that move with a scan."""
from __future__ import annotations

import re
import time
import uuid

import pytest
import requests

from meshstream.worker_process import WorkerProcess, free_port
from processors.samples import sample_models
from tests.integration.helpers import group_starts_at_end, upload

pytestmark = pytest.mark.integration
TOKEN = "test-token-" + uuid.uuid4().hex[:8]


@pytest.fixture(scope="module")
def web_workers(prepared, stack_env, tmp_path_factory):
    group = f"meshstream-web-{uuid.uuid4().hex[:8]}"
    group_starts_at_end(prepared, group)  # not the session's earlier scans: only this module's
    workers, urls = [], []
    try:
        for i in range(2):
            port = free_port()
            env = {**stack_env, "MESHSTREAM_APP_ID": group, "MESHSTREAM_SESSION_TIMEOUT": "6",
                   "MESHSTREAM_WEB_PORT": str(port), "MESHSTREAM_API_TOKEN": TOKEN}
            workers.append(WorkerProcess(env, tmp_path_factory.mktemp("web") / f"worker{i}.log").start())
            urls.append(f"http://127.0.0.1:{port}")
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:  # both ready: the group has settled on both members
            if all(requests.get(u + "/ready", timeout=5).status_code == 200 for u in urls):
                break
            time.sleep(1)
        else:
            pytest.fail(f"workers not ready: {[requests.get(u + '/ready', timeout=5).text for u in urls]}")
        yield urls
    finally:
        for w in workers:
            w.stop()


def _metric(urls, name: str, **labels) -> float:
    """Sum of a sample over all workers' /metrics."""
    total = 0.0
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for u in urls:
        for line in requests.get(u + "/metrics", timeout=10).text.splitlines():
            m = re.match(r"^(\w+)(?:\{(.*)\})? (\S+)$", line)
            if m and m.group(1) == name and (not want or want in (m.group(2) or "")):
                total += float(m.group(3))
    return total


def test_probes_and_openapi(web_workers):
    for u in web_workers:
        assert requests.get(u + "/health", timeout=5).json()["status"] == "ok"
        ready = requests.get(u + "/ready", timeout=5).json()
        assert ready["tables_recovered"] and ready["partitions_assigned"] > 0
    doc = requests.get(web_workers[0] + "/openapi.json", timeout=5).json()
    assert {"/scans", "/scans/{scan_id}", "/runs/{run_id}", "/models/{model_id}"} <= set(doc["paths"])
    assert "bucket" in doc["components"]["schemas"]["ScanRequest"]["required"]


def test_writes_need_the_token_and_bad_scans_name_the_field(web_workers):
    url = web_workers[0] + "/scans"
    assert requests.post(url, json={"bucket": "models"}, timeout=10).status_code == 401
    assert requests.post(url, json={"bucket": "models"}, headers={"Authorization": "Bearer wrong"},
                         timeout=10).status_code == 401
    auth = {"Authorization": f"Bearer {TOKEN}"}
    r = requests.post(url, data="{not json", headers=auth, timeout=10)
    assert r.status_code == 400
    for body, field in (({"prefix": "x/"}, "bucket"), ({"bucket": 7}, "bucket"),
                        ({"bucket": "models", "workflow": "no-such-flow"}, "workflow"),
                        ({"bucket": "models", "colour": "red"}, "colour"),
                        ({"bucket": "models", "storage": "nowhere"}, "storage")):
        r = requests.post(url, json=body, headers=auth, timeout=10)
        assert r.status_code == 422, (body, r.text)
        assert r.json()["field"] == field, r.text


def test_scan_over_http_to_completion_runs_from_either_worker_and_model_links(web_workers, s3, settings):
    a, b = web_workers
    before = _metric(web_workers, "meshstream_stage_completed_total", stage="technical-metadata")
    tri_before = _metric(web_workers, "meshstream_model_triangles_count")
    samples = sample_models()
    prefix = f"http-{uuid.uuid4().hex[:8]}/"
    upload(s3, "models", {prefix + k: samples[k] for k in ("cube_10mm.stl", "corrupt.stl")})

    r = requests.post(a + "/scans", json={"bucket": "models", "prefix": prefix, "owner_id": "user-7"},
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 202, r.text
    location = r.headers["Location"]
    assert location == f"/scans/{r.json()['scan_id']}"

    deadline, scan = time.monotonic() + 240, None
    while time.monotonic() < deadline:  # poll the other worker: every worker answers for every scan
        resp = requests.get(b + location, timeout=10)
        if resp.status_code == 200 and resp.json()["status"] == "finished" and resp.json()["models_discovered"] == 2:
            scan = resp.json()
            break
        time.sleep(1)
    assert scan is not None, requests.get(b + location, timeout=10).text
    assert scan["runs_by_state"] == {"completed": 1, "failed": 1}
    failed = next(m for m in scan["models"] if m["state"] == "failed")
    assert failed["failed_stage"] == "technical-metadata" and failed["error"]["message"]

    for m in scan["models"]:  # either worker answers for every run, whichever owns its partition
        deadline = time.monotonic() + 30
        while True:  # the table is written once the terminal event is acked: a moment after readers see it
            answers = [requests.get(u + f"/runs/{m['run_id']}", timeout=10) for u in web_workers]
            assert [x.status_code for x in answers] == [200, 200], [x.text for x in answers]
            runs = [x.json()["run"] for x in answers]
            if all(r["terminal"] for r in runs) or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        assert runs[0]["terminal"] == m["state"], runs[0]
        assert runs[0] == runs[1] and runs[0]["run_id"] == m["run_id"] and runs[0]["owner_id"] == "user-7"
        owners = {x.json()["answered_by"].rstrip("/") for x in answers}
        assert len(owners) == 1 and owners <= set(web_workers)  # the owner answered both: one was forwarded
    assert requests.get(a + "/runs/no-such-run", timeout=10).status_code == 404

    cube = next(m for m in scan["models"] if m["state"] == "completed")
    model = requests.get(b + f"/models/{cube['model_id']}", timeout=10).json()
    assert model["latest"]["state"] == "completed" and model["latest"]["metadata"]["triangles"] == 12
    images = [link for link in model["links"] if link["kind"] == "image"]
    assert images and all(link["url"].startswith(f"/models/{cube['model_id']}/results/") for link in images)
    labels = [link["label"] for link in images]  # labelled, not unlabelled look-alikes
    assert any(x.endswith(", 256 px") for x in labels) and any(x.endswith(", 512 px") for x in labels), labels
    png = requests.get(a + images[0]["url"], timeout=10)  # served by the worker: loads from any host
    assert png.status_code == 200 and png.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert png.headers["Content-Type"] == "image/png"

    # summed over both workers. The session's own worker (another group) works the same requests on
    # the same topics and its answers are accepted too, so a run here can end before this group's
    # own metadata step has counted its completion (CI: the first one took 2.9 s, waiting for the
    # pool's warm-up): wait for the count, then compare it with a later scrape
    deadline = time.monotonic() + 30
    while True:
        stages = requests.get(a + "/stages", timeout=10).json()
        if stages["stages"].get("technical-metadata", {}).get("completed", 0) > 0 or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert len(stages["workers"]) == 2 and not stages["unreachable"]
    # the counters keep moving (late steps of other runs): the sum read first is at most the later scrape
    assert 0 < stages["stages"]["technical-metadata"]["completed"] <= _metric(
        web_workers, "meshstream_stage_completed_total", stage="technical-metadata")
    overview = requests.get(a + "/overview", timeout=10).json()
    assert any(f["run_id"] == failed["run_id"] for f in overview["failures"])

    # every response the console reads matches its schema in the OpenAPI document
    import jsonschema

    doc = requests.get(a + "/openapi.json", timeout=10).json()
    for path, name in ((location, "Scan"), (f"/runs/{cube['run_id']}", "Run"), (f"/models/{cube['model_id']}", "Model"),
                       ("/scans?state=finished&limit=5", "ScanPage"), ("/console/summary", "Summary"),
                       ("/overview", "Overview"), ("/stages", "Stages"), ("/workflows", "Workflows")):
        jsonschema.validate(requests.get(b + path, timeout=10).json(), {**doc, "$ref": f"#/components/schemas/{name}"})
    listed = requests.get(b + "/scans?state=finished", timeout=10).json()
    assert scan["scan_id"] in {x["scan_id"] for x in listed["scans"]} and all(x["status"] == "finished" for x in listed["scans"])
    assert requests.get(b + "/scans?state=nope", timeout=10).json()["field"] == "state"
    # metrics moved with the scan (summed over both workers: each counts its own partitions)
    assert _metric(web_workers, "meshstream_stage_completed_total", stage="technical-metadata") >= before + 1
    assert _metric(web_workers, "meshstream_stage_failed_total", stage="technical-metadata") >= 1
    assert _metric(web_workers, "meshstream_model_triangles_count") >= tri_before + 1
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and min(_metric(web_workers, "meshstream_runs", state=s) for s in ("completed", "failed")) < 1:
        time.sleep(1)  # the run gauges refresh on a 1 s timer (each worker its own partitions)
    assert _metric(web_workers, "meshstream_runs", state="completed") >= 1
    assert _metric(web_workers, "meshstream_runs", state="failed") >= 1


def test_console_in_headless_chromium_clicks_scan_run_model(web_workers, s3, tmp_path):
    """The console as a person uses it: overview cards and stages, click the scan, then a run,
    then its model; the failed model's reason names its source object; the workflow graph is an
    SVG drawn by Mermaid. Screenshots are kept in the test's tmp dir as artefacts."""
    from tests.integration.browser import browser

    a, b = web_workers
    samples = sample_models()
    prefix = f"console-{uuid.uuid4().hex[:8]}/"
    upload(s3, "models", {prefix + k: samples[k] for k in ("cube_10mm.stl", "corrupt.stl")})
    r = requests.post(a + "/scans", json={"bucket": "models", "prefix": prefix},
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    scan_id = r.json()["scan_id"]
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and requests.get(a + f"/scans/{scan_id}", timeout=10).json().get("status") != "finished":
        time.sleep(1)
    scan = requests.get(a + f"/scans/{scan_id}", timeout=10).json()
    assert scan["status"] == "finished", scan
    cube = next(m for m in scan["models"] if m["state"] == "completed")

    with browser() as page:
        page.goto(b + "/")
        page.wait_for_selector("#stages tbody tr")
        assert page.text_content("#card-workers .n") == "2/2"
        assert int(page.text_content("#card-failed .n")) >= 1
        stage_rows = page.inner_text("#stages")
        assert "technical-metadata" in stage_rows and "orchestrator" in stage_rows
        assert "updated" in page.text_content("#refresh-status")
        page.screenshot(path=str(tmp_path / "console-overview.png"), full_page=True)

        page.click(".filters a:text-is('finished')")  # the scan list's state filter
        page.wait_for_selector(f"a.scan-link[href='#/scan/{scan_id}']")
        page.click(f"a.scan-link[href='#/scan/{scan_id}']")
        page.wait_for_selector("#models tbody tr")
        text = page.inner_text("main")
        assert f"s3://models/{prefix}corrupt.stl: technical-metadata failed (" in text and "finished" in text
        page.screenshot(path=str(tmp_path / "console-scan.png"), full_page=True)

        page.click(f"a.run-link[href='#/run/{cube['run_id']}']")
        page.wait_for_selector("#steps tr.step")
        steps = {row.get_attribute("data-stage"): row.inner_text() for row in page.query_selector_all("#steps tr.step")}
        assert "download" in steps and all("completed" in t or "failed" in t or "skipped" in t for t in steps.values()), steps
        page.screenshot(path=str(tmp_path / "console-run.png"), full_page=True)

        page.click("a.model-link")
        page.wait_for_selector("#images img")
        page.wait_for_function("[...document.querySelectorAll('#images img')].every(i => i.complete && i.naturalWidth > 0)")
        captions = page.inner_text("#images")
        assert ", 256 px" in captions and ", 512 px" in captions
        assert "triangles\n12" in page.inner_text("#metadata")  # a list, not raw JSON
        page.screenshot(path=str(tmp_path / "console-model.png"), full_page=True)

        page.goto(b + "/#/workflows")
        page.wait_for_selector(".workflow-graph svg")
        assert "technical-metadata" in page.inner_text(".workflow-graph[data-workflow='standard']")
        assert not page.errors, page.errors
    print("console screenshots in", tmp_path)


def test_cli_scan_wait_and_status(web_workers, s3, stack_env):
    """`meshstream scan --wait --json` publishes, follows the scan through a worker's API to the
    end and prints the summary; `meshstream status` answers for the scan and for one run."""
    import json
    import os
    import subprocess
    import sys

    from meshstream.worker_process import ROOT

    env = {**os.environ, **stack_env, "MESHSTREAM_API_URL": web_workers[1]}
    samples = sample_models()
    prefix = f"cli-{uuid.uuid4().hex[:8]}/"
    upload(s3, "models", {prefix + k: samples[k] for k in ("sphere_r5.stl", "corrupt.stl")})

    def cli(*argv, rc=0):
        proc = subprocess.run([sys.executable, "-m", "meshstream.cli", *argv], cwd=ROOT, env=env,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == rc and "Traceback" not in proc.stderr, (proc.stdout, proc.stderr)
        return proc

    # a model failed: the scan's summary is printed and the exit status says so
    proc = cli("scan", "--bucket", "models", "--prefix", prefix, "--wait", "--json", rc=1)
    scan = json.loads(proc.stdout)
    assert scan["status"] == "finished" and scan["runs_by_state"] == {"completed": 1, "failed": 1}
    assert "2/2 models done, 1 failed" in proc.stderr  # the progress line

    text = cli("status", scan["scan_id"]).stdout
    assert "sphere_r5" in text and "corrupt" in text and "technical-metadata" in text, text
    # the failure's reason names the source object, in full
    assert f"s3://models/{prefix}corrupt.stl: technical-metadata failed (" in text, text
    failed_run = next(m["run_id"] for m in scan["models"] if m["state"] == "failed")
    steps = json.loads(cli("status", failed_run, "--json").stdout)["steps"]
    # thumbnails runs beside technical-metadata: it has either failed on the corrupt file itself
    # or was still unfinished when the run failed, and is then shown as skipped (never "requested")
    assert steps["technical-metadata"]["status"] == "failed" and steps["thumbnails"]["status"] in ("skipped", "failed"), steps
    assert all(s["status"] in ("completed", "failed", "skipped") for s in steps.values()), steps

    empty = json.loads(cli("scan", "--bucket", "models", "--prefix", f"nothing-{uuid.uuid4().hex[:8]}/", "--wait",
                           "--json", "--wait-timeout", "60").stdout)
    assert empty["status"] == "finished" and empty["models_found"] == 0 and empty["finished_at"]
    run_id = next(m["run_id"] for m in scan["models"] if m["state"] == "completed")
    run = json.loads(cli("status", run_id, "--json").stdout)
    assert run["run_id"] == run_id and run["terminal"] == "completed"
    overview = json.loads(cli("status", "--json").stdout)
    assert overview["ready"]["status"] == "ready" and overview["runs_by_state"]["completed"] >= 1


def test_dead_letter_replay_needs_the_token_and_republishes(web_workers, settings):
    """A poison record shows up among the dead letters with its reason; the console's replay
    (POST /dead-letters/{p}/{o}/replay) is refused without the token and re-publishes with it
    (the record is still poison, so it is dead-lettered again: a second dead letter appears)."""
    from confluent_kafka import Producer

    from registry.manifest import default_manifest

    a, b = web_workers
    topic = default_manifest().by_name("technical-metadata.requested").topic
    key = f"poison-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(topic, key=key.encode(), value=b"not avro at all")
    producer.flush(10)

    def letters():
        return [d for d in requests.get(b + "/overview", timeout=10).json()["dead_letters"] if d["key"] == key]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not letters():
        time.sleep(1)
    found = letters()
    assert len(found) == 1 and found[0]["original_topic"] == topic and found[0]["code"] and found[0]["message"]
    p, o = found[0]["id"].split(":")
    url = a + f"/dead-letters/{p}/{o}/replay"
    assert requests.post(url, timeout=10).status_code == 401
    r = requests.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert r.status_code == 202, r.text
    summary = r.json()["summary"]  # the CLI's replay summary (streams/client/replay_plan.py)
    assert [i["id"] for i in summary["started"]] == [f"{p}:{o}"] and summary["already_started"] == []
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(letters()) < 2:
        time.sleep(1)
    assert len(letters()) == 2
    newest, first = letters()
    assert (first["replayed_as"], newest["replay_of"]) == (newest["id"], first["id"])  # linked, not just a new row
    # the same button again: the record is already back on its topic, so nothing is sent
    again = requests.post(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert again.status_code == 200, again.text
    assert again.json()["summary"]["started"] == [] and [i["id"] for i in again.json()["summary"]["already_started"]] == [f"{p}:{o}"]
    assert _metric(web_workers, "meshstream_dead_letters_total") >= 2


def test_replaying_a_dead_letter_in_the_console(web_workers, settings):
    """Replay from the console: no alert(), the outcome shows in the row, the button goes away,
    and the re-dead-lettered record shows as the replay of the first."""
    from confluent_kafka import Producer

    from registry.manifest import default_manifest
    from tests.integration.browser import browser

    a, b = web_workers
    topic = default_manifest().by_name("thumbnails.requested").topic
    key = f"console-poison-{uuid.uuid4().hex[:8]}"
    producer = Producer({"bootstrap.servers": settings.kafka_bootstrap})
    producer.produce(topic, key=key.encode(), value=b"still not avro")
    producer.flush(10)

    def letters():
        return [d for d in requests.get(b + "/overview", timeout=10).json()["dead_letters"] if d["key"] == key]

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not letters():
        time.sleep(1)
    letter = letters()[0]
    with browser() as page:
        page.on("dialog", lambda d: (_ for _ in ()).throw(AssertionError(f"a browser dialog: {d.message}")))
        page.goto(a + "/")
        row = f"tr.dead-letter[data-id='{letter['id']}']"
        page.wait_for_selector(row + " button.replay")
        page.click(row + " button.replay")  # no token yet: refused, said in the row
        page.wait_for_selector(row + " .replay-error")
        assert "401" in page.text_content(row + " .replay-error")
        page.fill("#token", TOKEN)
        page.click(row + " button.replay")
        page.wait_for_selector(row + " .replayed")
        assert page.query_selector(row + " button.replay") is None  # no second replay from this row
        page.wait_for_selector(f"{row} .replayed:has-text('replayed → ')", timeout=60_000)  # the read model linked it
        assert not page.errors, page.errors
    assert len(letters()) == 2


def test_metrics_a_dashboard_or_alert_reads_move_with_a_scan(web_workers, s3):
    """Pool size is the pool's, busy never exceeds it and moves while models run, queued work is
    counted apart, lag is only on contract topics and drains, and every stage counts completions."""
    samples = sample_models()
    prefix = f"metrics-{uuid.uuid4().hex[:8]}/"
    upload(s3, "models", {f"{prefix}{i}/{k}": samples[k] for i in range(6) for k in ("cube_10mm.stl",)})
    before = {s: _metric(web_workers, "meshstream_stage_completed_total", stage=s) for s in ("discovery", "orchestrator")}
    r = requests.post(web_workers[0] + "/scans", json={"bucket": "models", "prefix": prefix},
                      headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    scan_url = web_workers[0] + r.headers["Location"]
    sizes, busy, queued = set(), [], []
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        for u in web_workers:
            sizes.add(_metric([u], "meshstream_pool_size"))
            busy.append(_metric([u], "meshstream_pool_busy"))
            queued.append(_metric([u], "meshstream_pool_queued"))
            assert busy[-1] <= max(sizes), (busy[-1], sizes)
        if requests.get(scan_url, timeout=10).json().get("status") == "finished":  # 404 until the worker read it
            break
        time.sleep(0.3)
    assert requests.get(scan_url, timeout=10).json()["status"] == "finished"
    assert min(sizes) >= 1 and max(busy) >= 1, (sizes, busy)      # was always 0 (a thread-pool attribute)
    deadline = time.monotonic() + 30  # steps still finishing when the read model saw the last terminal event
    while time.monotonic() < deadline and (_metric(web_workers, "meshstream_pool_busy"),
                                           _metric(web_workers, "meshstream_pool_queued")) != (0, 0):
        time.sleep(0.5)
    assert _metric(web_workers, "meshstream_pool_busy") == 0 and _metric(web_workers, "meshstream_pool_queued") == 0
    for stage, n in before.items():
        assert _metric(web_workers, "meshstream_stage_completed_total", stage=stage) > n, stage
    assert _metric(web_workers, "meshstream_stage_completed_total", stage="discovery") >= before["discovery"] + 1
    time.sleep(6)  # one gauge refresh after the work: nothing left waiting
    text = "".join(requests.get(u + "/metrics", timeout=10).text for u in web_workers)
    lag_topics = set(re.findall(r'meshstream_consumer_lag\{partition="\d+",topic="([^"]+)"\}', text))
    assert lag_topics and all(t.startswith("model.") and not t.endswith("-changelog") for t in lag_topics), lag_topics
    assert _metric(web_workers, "meshstream_consumer_lag") == 0
    assert re.search(r'meshstream_step_timeouts\{stage="thumbnails"\} \d', text)  # a sample, 0 until a timeout
