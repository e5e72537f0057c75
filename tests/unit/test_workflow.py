"""The workflow state machine: fan-out, joins, blocking/optional failures, idempotency."""
from __future__ import annotations

import pytest

from streams import workflow as wf

FLOW = wf.Workflow("t", "active", "", (
    wf.Step("download"),
    wf.Step("thumbnails", needs=("download",), blocking=False),
    wf.Step("technical-metadata", needs=("download",)),
    wf.Step("print-analysis", needs=("technical-metadata",)),
    wf.Step("listing", needs=("thumbnails",), blocking=False),
))


def _run():
    return wf.new_run(FLOW, {"run_id": "r", "model_id": "m"}, 0)


def test_start_requests_only_roots():
    run = _run()
    assert wf.start(FLOW, run, 1).requests == ("download",)
    assert run["steps"]["download"]["status"] == wf.REQUESTED and run["steps"]["download"]["attempts"] == 1


def test_fan_out_then_join_then_complete():
    run = _run()
    wf.start(FLOW, run, 0)
    d = wf.record(FLOW, run, "download", True, 1)
    assert set(d.requests) == {"thumbnails", "technical-metadata"} and d.terminal is None
    assert wf.record(FLOW, run, "technical-metadata", True, 2).requests == ("print-analysis",)
    assert wf.record(FLOW, run, "thumbnails", True, 3).requests == ("listing",)
    assert wf.record(FLOW, run, "print-analysis", True, 4).terminal is None
    assert wf.record(FLOW, run, "listing", True, 5).terminal == wf.COMPLETED


def test_optional_failure_skips_dependants_but_run_completes():
    run = _run()
    wf.start(FLOW, run, 0)
    wf.record(FLOW, run, "download", True, 1)
    d = wf.record(FLOW, run, "thumbnails", False, 2, error={"code": "x"})
    assert d.terminal is None and run["steps"]["listing"]["status"] == wf.SKIPPED
    wf.record(FLOW, run, "technical-metadata", True, 3)
    assert wf.record(FLOW, run, "print-analysis", True, 4).terminal == wf.COMPLETED


def test_blocking_failure_ends_the_run_once():
    run = _run()
    wf.start(FLOW, run, 0)
    d = wf.record(FLOW, run, "download", False, 1, error={"code": "object_missing"})
    assert d.terminal == wf.FAILED and d.failed_stage == "download" and d.error == {"code": "object_missing"}
    # anything after the terminal transition is ignored: no second terminal event
    assert wf.record(FLOW, run, "download", False, 2) == wf.Decision()
    assert wf.record(FLOW, run, "technical-metadata", True, 2) == wf.Decision()


def test_redelivered_outcome_is_a_no_op():
    run = _run()
    wf.start(FLOW, run, 0)
    first = wf.record(FLOW, run, "download", True, 1)
    again = wf.record(FLOW, run, "download", True, 1)
    assert first.requests and again == wf.Decision()


def test_timeouts():
    run = _run()
    wf.start(FLOW, run, 0)
    assert wf.expired(FLOW, run, 1000) == []
    assert wf.expired(FLOW, run, 301_000) == ["download"]
    assert wf.expired(FLOW, run, 61_000, cap_seconds=60) == ["download"]
    assert wf.expired(FLOW, run, 59_000, cap_seconds=60) == []


def test_shipped_workflows_are_valid_and_planned_ones_refused(tmp_path):
    flows = wf.default_workflows()
    assert wf.runnable("minimal", flows).name == "minimal"
    path = tmp_path / "w.yaml"
    path.write_text("workflows:\n  later:\n    status: planned\n    steps:\n      - stage: slicing\n")
    with pytest.raises(wf.WorkflowError, match="planned"):
        wf.runnable("later", wf.load_workflows(path))
    with pytest.raises(wf.WorkflowError, match="unknown workflow"):
        wf.runnable("nope", flows)


def test_a_step_needing_an_unknown_stage_is_rejected(tmp_path):
    path = tmp_path / "w.yaml"
    path.write_text("workflows:\n  bad:\n    steps:\n      - stage: a\n        needs: [b]\n")
    with pytest.raises(wf.WorkflowError, match="unknown stages"):
        wf.load_workflows(path)


def test_the_scan_contract_defaults_to_the_default_workflow():
    """A scan published without a workflow (by any client) runs the same workflow the CLI and
    Publisher choose: the Avro default and workflows.yaml's `default` must agree."""
    from registry.manifest import default_manifest

    payload = next(f for f in default_manifest().by_name("discovery-scan.requested").schema["fields"]
                   if f["name"] == "payload")["type"]
    field = next(f for f in payload["fields"] if f["name"] == "workflow")
    assert field["default"] == wf.default_workflow_name()
    assert wf.runnable(field["default"]).status == "active"
