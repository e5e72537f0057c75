"""Pure parts of the worker's web layer: scan validation, token check, read model, metrics
names charted by the Grafana dashboard, OpenAPI derived from the scan contract."""
from __future__ import annotations

import json
import re

import pytest

from registry.manifest import default_manifest
from streams.worker import metrics
from streams.worker.web.auth import write_refusal
from streams.worker.web.openapi import document
from streams.worker.web.readmodel import ReadModel
from streams.worker.web.scans import InvalidScan, scan_payload
from streams.orchestration.workflow import runnable
from schemas import SCHEMAS_DIR

SCAN = default_manifest().by_name("discovery-scan.requested")


def test_scan_payload_fills_defaults_and_names_the_bad_field():
    p = scan_payload({"bucket": "models", "prefix": "a/"}, SCAN, runnable)
    assert p["bucket"] == "models" and p["storage"] == "default" and p["workflow"] == "standard" and p["scan_id"]
    for body, status, field in (([], 400, None), ({}, 422, "bucket"), ({"bucket": ""}, 422, "bucket"),
                                ({"bucket": "b", "provider": "ftp"}, 422, "provider"),
                                ({"bucket": "b", "workflow": "print-ready"}, 422, "workflow"),
                                ({"bucket": "b", "extra": 1}, 422, "extra")):
        with pytest.raises(InvalidScan) as err:
            scan_payload(body, SCAN, runnable)
        assert (err.value.status, err.value.field) == (status, field)


def test_write_refusal():
    assert write_refusal(None, "Bearer x")  # no token configured: writes disabled
    assert write_refusal("s3cret", None) and write_refusal("s3cret", "Bearer nope") and write_refusal("s3cret", "Basic s3cret")
    assert write_refusal("s3cret", "Bearer s3cret") is None


def test_read_model_follows_a_scan():
    rm = ReadModel(default_manifest(), serde=None)
    rm.apply("discovery-scan.requested", {"envelope": {"occurred_at": 1}, "payload": {"scan_id": "s", "bucket": "b"}})
    assert rm.scan("s")["status"] == "discovering"
    for run, model in (("r1", "m1"), ("r2", "m2")):
        rm.apply("discovery.discovered", {"envelope": {}, "payload": {"scan_id": "s", "run_id": run, "model_id": model,
                                                                      "name": model, "workflow": "standard"}})
    rm.apply("processing.completed", {"envelope": {}, "payload": {"scan_id": "s", "run_id": "r1", "model_id": "m1",
                                                                  "name": "m1", "workflow": "standard"}})
    assert rm.scan("s")["progress"] == {"done": 1, "total": 2} and rm.scan("s")["status"] == "running"
    failed = {"scan_id": "s", "run_id": "r2", "model_id": "m2", "name": "m2", "workflow": "standard",
              "failed_stage": "technical-metadata", "error": {"code": "corrupt_mesh", "message": "bad"}}
    rm.apply("processing.failed", {"envelope": {}, "payload": failed})
    rm.apply("processing.failed", {"envelope": {}, "payload": failed})  # duplicate: ignored
    scan = rm.scan("s")
    assert scan["status"] == "finished" and scan["runs_by_state"] == {"completed": 1, "failed": 1}
    assert len(rm.failures) == 1 and rm.model("m2")["latest"]["error"]["code"] == "corrupt_mesh"


def test_every_metric_the_grafana_dashboard_charts_exists():
    dash = json.loads((SCHEMAS_DIR.parent / "deploy/grafana/meshstream.json").read_text())
    exposed = metrics.exposition()[0].decode()
    names = set(re.findall(r"^# TYPE (\w+)", exposed, re.M))
    series = names | {n + s for n in names for s in ("_total", "_bucket", "_count", "_sum")}
    charted = {m for p in dash["panels"] for t in p["targets"]
               for m in re.findall(r"\bmeshstream_\w+", t["expr"])}
    assert charted and charted <= series, charted - series


def test_openapi_scan_schema_is_the_contract():
    doc = document(SCAN)
    props = doc["components"]["schemas"]["ScanRequest"]["properties"]
    assert set(props) == {f["name"] for f in json.loads(json.dumps(SCAN.schema))["fields"][1]["type"]["fields"]}
    assert doc["paths"]["/scans"]["post"]["responses"]["202"]


def test_health_fails_when_the_event_loop_stalls():
    import time

    from streams.worker.web.probes import STALL_SECONDS, Probes

    probes = Probes(app=None, runtime=None)
    assert probes.health()[0] is True
    probes.last_tick = time.monotonic() - STALL_SECONDS - 1  # the ticker has not run: the loop is blocked
    ok, body = probes.health()
    assert ok is False and body["status"] == "stalled"
