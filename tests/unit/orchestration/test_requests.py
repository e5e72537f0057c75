"""Request building: workflow step options and a scan's options reach exactly the stages whose
request contracts have those fields; terminal payloads carry owner, degradation and attempts."""
from __future__ import annotations

from registry.workflows import default_workflows
from streams.orchestration import workflow as wf
from streams.client import processing_options
from streams.orchestration.request_builders import build_request, request_fields, scan_options, terminal_payload

MODEL = {"run_id": "r", "model_id": "m", "scan_id": "s", "workflow": "minimal", "name": "cube", "folder": "f/",
         "owner_id": "owner-7", "files": [{"storage": "default", "bucket": "b", "key": "f/cube.stl", "etag": "e",
                                           "size_bytes": 1}]}


def state(options=None):
    return wf.RunState.from_discovered({**MODEL, "options": options}, 0)


def test_workflow_step_options_shape_the_request():
    step = default_workflows()["minimal"].step("thumbnails")
    req = build_request("thumbnails", state(), step.options)
    assert (req["preview_type"], req["sizes"], req["generate_360_views"]) == ("hero", [256], False)
    assert build_request("thumbnails", state())["preview_type"] == "standard"


def test_scan_options_reach_every_stage_that_has_the_field_and_no_other():
    opts = processing_options({"printers": ["Prusa MK4"], "overhang_angle_deg": 55.0, "skip_cache": True,
                               "enable_expensive_analysis": True,
                               "listing": {"who_made": "collective", "price": {"amount": 999, "divisor": 100,
                                                                               "currency_code": "EUR"}}})
    run = state(opts)
    pa = build_request("print-analysis", run)
    assert (pa["printers"], pa["overhang_angle_deg"], pa["skip_cache"], pa["enable_expensive_analysis"]) == \
        (["Prusa MK4"], 55.0, True, True)
    assert build_request("download", run)["skip_cache"] is True
    assert build_request("technical-metadata", run)["enable_expensive_analysis"] is True
    etsy = build_request("etsy-listing", run)
    assert etsy["who_made"] == "collective" and etsy["price"]["currency_code"] == "EUR"
    assert "printers" not in build_request("thumbnails", run)  # not in its contract
    assert "who_made" not in request_fields("print-analysis")


def test_unset_scan_options_keep_the_defaults():
    assert scan_options(processing_options({"printers": []})) == {"skip_cache": False, "enable_expensive_analysis": False}
    assert build_request("print-analysis", state(processing_options({})))["overhang_angle_deg"] == 45.0


def test_terminal_payloads_carry_owner_degradation_and_attempts():
    flows = default_workflows()
    t = wf.start(flows, {**MODEL, "workflow": "minimal"}, 0)
    flow = flows["minimal"]
    t = wf.apply(flow, t.state, wf.StepSucceeded("download", {"files": []}, "1"), 1)
    t = wf.apply(flow, t.state, wf.StepSucceeded("technical-metadata", {"metadata": None}, "1"), 2)
    t = wf.apply(flow, t.state, wf.StepFailed("thumbnails", {"code": "render_failed", "message": "boom",
                                                             "retryable": False}), 3)
    p = terminal_payload(t.state)
    assert t.terminal == wf.COMPLETED and p["owner_id"] == "owner-7"
    assert p["degraded"] == [{"stage": "thumbnails", "code": "render_failed", "message": "boom", "attempts": 1}]
    assert {s["stage"]: (s["status"], s["attempts"]) for s in p["stages"]} == {
        "download": ("completed", 1), "technical-metadata": ("completed", 1), "thumbnails": ("failed", 1)}


def test_a_scans_units_reach_the_stages_that_load_meshes():
    """`meshstream scan --units mm` (issue 22): the override travels in ProcessingOptions to the
    requests of the stages that read coordinates (technical metadata, print analysis)."""
    run = state(processing_options({"units": "mm"}))
    assert build_request("technical-metadata", run)["units"] == "mm"
    assert build_request("print-analysis", run)["units"] == "mm"
    assert build_request("slicing", run)["units"] == "mm"  # a glTF in mm is sliced as mm, not metres
    assert "units" not in build_request("thumbnails", run)
    assert build_request("print-analysis", state(processing_options({"printers": []})))["units"] is None


def test_units_outside_the_list_are_refused_by_the_contract():
    from registry.constraints import ConstraintViolation, check_record
    from registry.manifest import default_manifest

    contract = default_manifest().by_name("print-analysis.requested")
    payload = build_request("print-analysis", state(processing_options({"units": "mm"})))
    record = {"envelope": {}, "payload": {**payload, "units": "furlong"}}
    try:
        check_record(contract.schema, record)
    except ConstraintViolation as exc:
        assert "units" in str(exc)
    else:
        raise AssertionError("units 'furlong' passed the contract's constraints")


def _downloaded(cache_hits: list[bool]):
    """A minimal run whose download step answered with files that were (or were not) in the cache."""
    flows = default_workflows()
    t = wf.start(flows, {**MODEL, "workflow": "minimal"}, 0)
    files = [{"source": MODEL["files"][0], "cached": {**MODEL["files"][0], "bucket": "cache", "key": f"c/{i}"},
              "sha256": "0" * 64, "size_bytes": 1, "cache_hit": hit} for i, hit in enumerate(cache_hits)]
    t = wf.apply(flows["minimal"], t.state, wf.StepSucceeded("download", {"files": files}, "1"), 1)
    return flows["minimal"], t


def test_a_first_attempt_on_content_new_to_the_cache_skips_the_reuse_lookup_and_a_retry_does_not():
    flow, t = _downloaded([False, False])
    requested = {e.stage for e in t.effects if isinstance(e, wf.RequestStep)}
    assert requested == {"technical-metadata", "thumbnails"}
    assert all(build_request(stage, t.state)["input_is_new"] is True for stage in requested)
    # the stage's retry: attempt 1 may have stored its result before its answer was lost
    t = wf.apply(flow, t.state, wf.StepFailed("thumbnails", {"code": "storage_unavailable", "message": "down",
                                                             "retryable": True}), 2)
    t = wf.apply(flow, t.state, wf.Tick(), 10 * 60 * 1000)
    assert [e.attempt for e in t.effects if isinstance(e, wf.RequestStep)] == [2]
    assert build_request("thumbnails", t.state)["input_is_new"] is False
    assert build_request("technical-metadata", t.state)["input_is_new"] is True  # still its first attempt


def test_content_the_cache_held_or_a_run_without_download_result_looks_for_a_result():
    for hits in ([True], [False, True]):
        _, t = _downloaded(hits)
        assert build_request("technical-metadata", t.state)["input_is_new"] is False, hits
    assert build_request("technical-metadata", state())["input_is_new"] is False
    assert "input_is_new" not in build_request("download", state())  # its cache is its own reuse
