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
from streams.worker.web.readmodel import ReadModel, reason
from streams.worker.web.scans import InvalidScan, scan_payload
from streams.orchestration.workflow import runnable
from schemas import SCHEMAS_DIR

SCAN = default_manifest().by_name("discovery-scan.requested")


def test_scan_payload_fills_defaults_and_names_the_bad_field():
    p = scan_payload({"bucket": "models", "prefix": "a/"}, SCAN, runnable)
    assert p["bucket"] == "models" and p["storage"] == "default" and p["workflow"] == "standard" and p["scan_id"]
    for body, status, field in (([], 400, None), ({}, 422, "bucket"), ({"bucket": ""}, 422, "bucket"),
                                ({"bucket": "b", "provider": "ftp"}, 422, "provider"),
                                ({"bucket": "b", "workflow": "no-such-workflow"}, 422, "workflow"),
                                ({"bucket": "b", "extra": 1}, 422, "extra")):
        with pytest.raises(InvalidScan) as err:
            scan_payload(body, SCAN, runnable)
        assert (err.value.status, err.value.field) == (status, field)


def test_an_unknown_storage_is_refused_naming_the_field():
    from streams.core.settings import Settings

    settings = Settings()
    assert scan_payload({"bucket": "b"}, SCAN, runnable, settings.storage)["storage"] == "default"
    with pytest.raises(InvalidScan) as err:
        scan_payload({"bucket": "b", "storage": "nowhere"}, SCAN, runnable, settings.storage)
    assert (err.value.status, err.value.field) == (422, "storage") and "MESHSTREAM_STORAGE_NOWHERE_ENDPOINT" in err.value.message


def test_write_refusal():
    assert write_refusal(None, "Bearer x")  # no token configured: writes disabled
    assert write_refusal("s3cret", None) and write_refusal("s3cret", "Bearer nope") and write_refusal("s3cret", "Basic s3cret")
    assert write_refusal("s3cret", "Bearer s3cret") is None


def _discovered(rm, scan, run, model, offset):
    rm.apply("discovery.discovered", {"envelope": {"occurred_at": 1_000}, "payload": {
        "scan_id": scan, "run_id": run, "model_id": model, "name": model, "workflow": "standard",
        "files": [{"storage": "default", "bucket": "models", "key": f"lib/{model}.stl"}]}},
        ("model.discovery.discovered.v1", 0, offset))


def test_read_model_follows_a_scan_to_its_end():
    rm = ReadModel(default_manifest(), serde=None)
    rm.apply("discovery-scan.requested", {"envelope": {"occurred_at": 1_764_856_987_000},
                                          "payload": {"scan_id": "s", "bucket": "b", "prefix": "lib/"}},
             ("model.discovery-scan.requested.v1", 2, 7))
    assert rm.scan("s")["status"] == "discovering" and rm.scan("s")["requested_at"] == "2025-12-04T14:03:07.000Z"
    for i, (run, model) in enumerate((("r1", "m1"), ("r2", "m2"))):
        _discovered(rm, "s", run, model, i)
    import datetime  # the serde decodes timestamp-millis to an aware datetime

    at = datetime.datetime.fromtimestamp(1_764_856_990, datetime.timezone.utc)
    rm.apply("processing.completed", {"envelope": {"occurred_at": at}, "payload": {
        "scan_id": "s", "run_id": "r1", "model_id": "m1", "name": "m1", "workflow": "standard"}})
    assert rm.scan("s")["progress"] == {"done": 1, "total": 2} and rm.scan("s")["status"] == "running"
    failed = {"scan_id": "s", "run_id": "r2", "model_id": "m2", "name": "m2", "workflow": "standard",
              "failed_stage": "technical-metadata",
              "error": {"code": "corrupt_mesh",
                        "message": "default/models/ab12/lib/m2.stl: default/models/ab12/lib/m2.stl is not a valid STL: "
                                   "not ASCII STL\ntraceback"}}
    rm.apply("processing.failed", {"envelope": {"occurred_at": 1_764_856_992_500}, "payload": failed})
    rm.apply("processing.failed", {"envelope": {}, "payload": failed})  # duplicate: ignored
    # every run is done, but discovery has not said it listed everything: not finished yet
    assert rm.scan("s")["status"] == "running"
    assert rm.listed({2: 7}, {0: 2}) == []          # the group's committed offset is the request's: not past it
    assert rm.listed({2: 8}, {0: 2}) == ["s"]
    rm.caught_up({0: 1})
    assert rm.scan("s")["status"] == "running"      # the read model has not read every discovery yet
    rm.caught_up({0: 2}, at=1_764_856_993_000)
    scan = rm.scan("s")
    assert scan["status"] == "finished" and scan["runs_by_state"] == {"completed": 1, "failed": 1}
    assert scan["models_found"] == 2 and scan["finished_at"] == "2025-12-04T14:03:13.000Z"
    assert scan["duration_seconds"] == 6.0 and scan["source"] == "s3://b/lib/"
    bad = next(m for m in scan["models"] if m["state"] == "failed")
    assert bad["reason"] == ("s3://models/lib/m2.stl: technical-metadata failed (corrupt_mesh): "
                             "m2.stl is not a valid STL: not ASCII STL")
    assert rm.recent_failures()[0]["reason"] == bad["reason"]
    assert len(rm.failures) == 1 and rm.model("m2")["latest"]["error"]["code"] == "corrupt_mesh"
    assert rm.model("m2")["source"] == "s3://models/lib/m2.stl"


def test_a_failure_read_before_its_discovery_still_names_the_source():
    """The read model reads several topics: a run's terminal event may come before its discovery."""
    rm = ReadModel(default_manifest(), serde=None)
    rm.apply("processing.failed", {"envelope": {}, "payload": {
        "scan_id": "s", "run_id": "r9", "model_id": "m9", "name": "m9", "workflow": "standard",
        "failed_stage": "download", "error": {"code": "not_found", "message": "gone"}}})
    _discovered(rm, "s", "r9", "m9", 0)
    assert rm.scan("s")["models"][0]["reason"] == "s3://models/lib/m9.stl: download failed (not_found): gone"
    long = "x " * 200
    assert reason("s3://b/" + "d/" * 100 + "f.stl", "thumbnails", {"code": "c", "message": long}).startswith(
        "s3://b/" + "d/" * 100 + "f.stl: thumbnails failed (c): x x")  # the source in full; the message cut at a word


def test_an_empty_scan_finishes_with_zero_models_and_a_refused_one_fails_with_its_code():
    rm = ReadModel(default_manifest(), serde=None)
    for i, scan_id in enumerate(("empty", "refused", "busy")):
        rm.apply("discovery-scan.requested", {"envelope": {"occurred_at": 1_000 + i},
                                              "payload": {"scan_id": scan_id, "bucket": "b"}},
                 ("model.discovery-scan.requested.v1", 0, i))
    rm.apply("pipeline.dead-lettered", {"envelope": {"event_id": "e1", "occurred_at": 5_000}, "payload": {
        "original_topic": "model.discovery-scan.requested.v1", "original_key": b"refused", "stage": "discovery",
        "error": {"code": "unknown_storage", "message": "unknown storage connection 'x'"}}},
        ("model.pipeline.dead-lettered.v1", 0, 0))
    rm.listed({0: 2}, {0: 0})   # discovery is past "empty" and "refused", not "busy"
    rm.caught_up({0: 0})
    assert (rm.scan("empty")["status"], rm.scan("empty")["models_found"]) == ("finished", 0)
    refused = rm.scan("refused")
    assert refused["status"] == "failed" and refused["error"]["code"] == "unknown_storage"
    assert refused["error"]["dead_letter"] == "0:0" and rm.dead_letters[0]["scan_id"] == "refused"
    assert rm.scan("busy")["status"] == "discovering"
    page = rm.scans_page(state="finished")
    assert page["total"] == 1 and [s["scan_id"] for s in page["scans"]] == ["empty"]
    page = rm.scans_page(limit=2, offset=1)
    assert page["total"] == 3 and [s["scan_id"] for s in page["scans"]] == ["refused", "empty"]  # newest first
    assert "models" not in page["scans"][0]


def test_a_failed_runs_unfinished_steps_show_as_skipped_with_iso_times():
    from streams.worker.web.runview import run_view

    run = {"run_id": "r", "terminal": "failed", "started_at": 1_764_856_987_000, "finished_at": 1_764_856_989_500,
           "steps": {"download": {"status": "completed", "attempts": 1, "requested_at": 1_764_856_987_000,
                                  "finished_at": 1_764_856_987_250},
                     "technical-metadata": {"status": "failed", "attempts": 1, "requested_at": 1_764_856_987_300,
                                            "finished_at": 1_764_856_989_500},
                     "thumbnails": {"status": "requested", "attempts": 1, "requested_at": 1_764_856_987_300,
                                    "due_at": 1_764_857_000_000},
                     "metamodel": {"status": "pending", "attempts": 0}}}
    view = run_view(run)
    assert {k: v["status"] for k, v in view["steps"].items()} == {
        "download": "completed", "technical-metadata": "failed", "thumbnails": "skipped", "metamodel": "skipped"}
    assert view["steps"]["download"]["duration_seconds"] == 0.25 and view["duration_seconds"] == 2.5
    assert view["started_at"] == "2025-12-04T14:03:07.000Z" and view["steps"]["thumbnails"]["due_at"] is None
    assert run["steps"]["thumbnails"]["status"] == "requested"  # the table's record is not changed
    run["files"] = [{"bucket": "models", "key": "lib/x.stl"}]
    run["failed_stage"], run["error"] = "technical-metadata", {"code": "corrupt_mesh", "message": "c/x.stl: c/x.stl is bad"}
    run["steps"]["technical-metadata"]["error"] = run["error"]
    view = run_view(run)
    assert view["reason"] == "s3://models/lib/x.stl: technical-metadata failed (corrupt_mesh): x.stl is bad"
    assert view["steps"]["technical-metadata"]["reason"] == "x.stl is bad"


def test_scan_wait_fails_when_models_failed_or_the_scan_was_refused():
    from meshstream.progress import bar, failed, table

    ok = {"status": "finished", "runs_by_state": {"completed": 2}, "progress": {"done": 2, "total": 2}}
    assert not failed(ok) and failed({**ok, "runs_by_state": {"completed": 1, "failed": 1}})
    refused = {"status": "failed", "runs_by_state": {}, "progress": {"done": 0, "total": 0},
               "error": {"code": "unknown_storage", "message": "unknown storage connection 'x'"}}
    assert failed(refused) and "unknown_storage" in bar(refused)
    assert "no models found" in bar({**ok, "runs_by_state": {}, "progress": {"done": 0, "total": 0}, "models_found": 0})
    long = "s3://models/" + "deep/" * 40 + "m.stl: technical-metadata failed (corrupt_mesh): bad"
    assert long in table({"models": [{"name": "m", "model_id": "m", "state": "failed", "reason": long}]})


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


def test_every_route_is_in_the_openapi_document_with_a_response_schema():
    from pathlib import Path

    views = (Path(__file__).resolve().parents[3] / "streams/worker/web/views.py").read_text()
    routes = set(re.findall(r'@app\.page\("([^"]+)"\)', views))
    doc = document(SCAN)
    assert len(routes) >= 15 and routes <= set(doc["paths"]), routes - set(doc["paths"])
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            if path == "/dashboard":
                continue  # a redirect
            ok = op["responses"].get("200") or op["responses"].get("202")
            assert ok and ok.get("content"), (path, method)
            for media in ok["content"].values():
                assert media.get("schema"), (path, method)


def test_stage_quantiles_match_prometheus_histogram_quantile():
    from streams.worker.web import stagestats

    # 10 observations: 6 under 0.1 s, 3 in (0.1, 0.25], 1 in (0.25, 0.5]
    buckets = {"0.05": 0, "0.1": 6, "0.25": 9, "0.5": 10, "+Inf": 10}
    assert stagestats.quantile(0.5, buckets) == 0.05 + 0.05 * (5 - 0) / 6
    assert abs(stagestats.quantile(0.95, buckets) - (0.25 + 0.25 * 0.5)) < 1e-9
    assert stagestats.quantile(0.5, {"+Inf": 0}) is None
    total = {"stages": {}, "lag_by_topic": {}}
    stagestats.add(total, {"stages": {"thumbnails": {"in": 4, "completed": 3, "failed": 1, "dead_letters": 0,
                                                     "failed_by_code": {"render": 1}, "buckets": buckets,
                                                     "rate_per_second": 0.5}}, "lag_by_topic": {"t": 3}, "ready": 1})
    stagestats.add(total, {"stages": {"thumbnails": {"in": 1, "completed": 1, "failed": 0, "dead_letters": 0,
                                                     "failed_by_code": {}, "buckets": {"+Inf": 0},
                                                     "rate_per_second": 0.25}}, "lag_by_topic": {"t": 2}, "ready": 1})
    row = stagestats.finish(total)[0]
    assert (row["completed"], row["failed"], row["failure_rate"], row["rate_per_second"]) == (4, 1, 0.2, 0.75)
    assert total["lag_by_topic"] == {"t": 5} and total["ready"] == 2 and row["p95_seconds"] == 0.375


def test_a_replayed_dead_letter_is_linked_to_the_one_it_replays():
    rm = ReadModel(default_manifest(), serde=None)
    letter = {"original_topic": "model.thumbnails.requested.v1", "original_key": b"k", "original_value": b"poison",
              "original_partition": 0, "original_offset": 5, "stage": "thumbnails",
              "error": {"code": "undecodable", "message": "not avro"}}
    rm.apply("pipeline.dead-lettered", {"envelope": {"event_id": "a"}, "payload": letter}, ("dl", 1, 3))
    rm.apply("pipeline.dead-lettered", {"envelope": {"event_id": "b"}, "payload": {**letter, "original_offset": 9}},
             ("dl", 1, 4))
    newest, first = rm.dead_letters
    assert (first["id"], first["replayed_as"], newest["replay_of"]) == ("1:3", "1:4", "1:3")
    assert rm.dead_letter_total == 2


def test_health_fails_when_the_event_loop_stalls():
    import time

    from streams.worker.web.probes import STALL_SECONDS, Probes

    probes = Probes(app=None, runtime=None)
    assert probes.health()[0] is True
    probes.last_tick = time.monotonic() - STALL_SECONDS - 1  # the ticker has not run: the loop is blocked
    ok, body = probes.health()
    assert ok is False and body["status"] == "stalled"
