"""`meshstream contracts check` passes on this checkout and fails, naming what broke, on broken copies."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from meshstream.commands.contracts import REPO_ROOT, run_check
from schemas import SCHEMAS_DIR


@pytest.fixture
def copy(tmp_path) -> Path:
    root = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _edit_json(path: Path, fn) -> None:
    doc = json.loads(path.read_text())
    fn(doc)
    path.write_text(json.dumps(doc, indent=2))


def _payload_fields(doc):
    return doc["fields"][1]["type"]["fields"]


def test_check_passes_on_main():
    errors, _notes = run_check(SCHEMAS_DIR, REPO_ROOT)
    assert errors == []


def test_unbroken_copy_passes(copy):
    errors, _ = run_check(copy, REPO_ROOT)
    assert errors == []


def test_removing_a_required_field_of_a_full_transitive_subject_fails(copy):
    _edit_json(copy / "processing" / "completed.v1.avsc",
               lambda d: _payload_fields(d).remove(next(f for f in _payload_fields(d) if f["name"] == "name")))
    errors, _ = run_check(copy, generated=False)
    # FULL_TRANSITIVE: one error per released version the new schema breaks (v1 and v2)
    released = sorted(p.stem for p in (copy / "released" / "model.processing.completed.v1-value").glob("v*.avsc"))
    assert len(released) >= 2 and len(errors) == len(released), errors
    assert errors[0].startswith("model.processing.completed.v1-value: consumers on v1 cannot read data written with the new schema")
    assert all("name" in e and "reader_field_missing_default_value" in e for e in errors)


def test_type_change_is_checked_against_every_released_version(copy):
    def change(d):
        next(f for f in _payload_fields(d) if f["name"] == "prefix")["type"] = "int"
        next(f for f in _payload_fields(d) if f["name"] == "prefix")["default"] = 0
    _edit_json(copy / "discovery" / "scan_requested.v1.avsc", change)
    errors, _ = run_check(copy, generated=False)
    subject = "model.discovery-scan.requested.v1-value"
    assert any(e.startswith(f"{subject}: new schema cannot read data written with v1") for e in errors), errors
    assert any(e.startswith(f"{subject}: new schema cannot read data written with v2") for e in errors), errors
    assert all("type_mismatch" in e for e in errors)


def test_editing_a_released_version_fails(copy):
    path = copy / "released" / "model.processing.failed.v1-value" / "v1.avsc"
    path.write_text(path.read_text().replace("Terminal event", "Final event"))
    errors, _ = run_check(copy, generated=False)
    assert any("model.processing.failed.v1-value v1" in e and "edited after release" in e for e in errors), errors


def test_deleting_or_adding_a_release_by_hand_fails(copy):
    (copy / "released" / "model.discovery.discovered.v1-value" / "v2.avsc").unlink()
    shutil.copy(copy / "released" / "model.download.failed.v1-value" / "v1.avsc",
                copy / "released" / "model.download.failed.v1-value" / "v2.avsc")
    errors, _ = run_check(copy, generated=False)
    assert any("model.discovery.discovered.v1-value/v2.avsc" in e and "missing" in e for e in errors), errors
    assert any("model.download.failed.v1-value v2" in e and "not in released/SHA256SUMS" in e for e in errors), errors


def test_orphan_schema_fails(copy):
    shutil.copy(copy / "thumbnails" / "failed.v1.avsc", copy / "thumbnails" / "cancelled.v1.avsc")
    errors, _ = run_check(copy, generated=False)
    assert errors == ["orphan schema thumbnails/cancelled.v1.avsc: no contract in contracts.yaml uses it and it is not a common file"]


def test_contract_name_must_match_topic(copy):
    text = (copy / "contracts.yaml").read_text().replace("- name: thumbnails.failed", "- name: thumbnail-failure")
    (copy / "contracts.yaml").write_text(text)
    errors, _ = run_check(copy, generated=False)
    assert any("thumbnail-failure" in e and "thumbnails.failed" in e for e in errors), errors


def test_duplicate_record_name_fails(copy):
    _edit_json(copy / "slicing" / "failed.v1.avsc", lambda d: d.update(name="SlicingCompleted"))
    errors, _ = run_check(copy, generated=False)
    assert any("dev.meshstream.slicing.v1.SlicingCompleted is already used by contract slicing.completed" in e
               for e in errors), errors


def test_schema_without_envelope_fails(copy):
    _edit_json(copy / "sellability" / "failed.v1.avsc", lambda d: d["fields"].reverse())
    errors, _ = run_check(copy, generated=False)
    assert any("sellability.failed" in e and "[envelope, payload]" in e for e in errors), errors


def test_workflow_naming_an_unknown_stage_fails(copy):
    text = (copy / "workflows.yaml").read_text()
    text += "\n  colorize-only:\n    status: planned\n    description: x\n    steps:\n      - stage: colorize\n"
    (copy / "workflows.yaml").write_text(text)
    errors, _ = run_check(copy, generated=False)
    assert "workflow colorize-only: stage colorize has no contract colorize.requested" in errors


def test_malformed_constraint_fails(copy):
    def bad(d):
        next(f for f in _payload_fields(d) if f["name"] == "run_id")["meshstream.maxLenght"] = 3
    _edit_json(copy / "download" / "failed.v1.avsc", bad)
    errors, _ = run_check(copy, generated=False)
    assert any("download.failed" in e and "unknown constraint meshstream.maxLenght" in e for e in errors), errors


def test_stale_generated_code_fails(tmp_path):
    for rel in ("clients/python/src/meshstream_client/generated", "clients/typescript/src/generated"):
        shutil.copytree(REPO_ROOT / rel, tmp_path / rel, ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "docs").mkdir()
    shutil.copy(REPO_ROOT / "docs" / "asyncapi.yaml", tmp_path / "docs" / "asyncapi.yaml")
    assert run_check(SCHEMAS_DIR, tmp_path)[0] == []
    path = tmp_path / "clients" / "python" / "src" / "meshstream_client" / "generated" / "etsy_listing_v1.py"
    path.write_text(path.read_text().replace("title: str", "title: str | None"))
    (tmp_path / "clients" / "typescript" / "src" / "generated" / "common.ts").unlink()
    ts = tmp_path / "clients" / "typescript" / "src" / "generated" / "contracts.ts"
    assert '"maxLength": 140' in ts.read_text()
    ts.write_text(ts.read_text().replace('"maxLength": 140', '"maxLength": 141'))  # a hand-edited Etsy limit
    (tmp_path / "docs" / "asyncapi.yaml").write_text("asyncapi: 3.0.0\n")
    errors, _ = run_check(SCHEMAS_DIR, tmp_path)
    assert sorted(errors) == sorted([
        "generated file clients/python/src/meshstream_client/generated/etsy_listing_v1.py is stale (run `meshstream contracts generate`)",
        "generated file clients/typescript/src/generated/common.ts is missing (run `meshstream contracts generate`)",
        "generated file clients/typescript/src/generated/contracts.ts is stale (run `meshstream contracts generate`)",
        "docs/asyncapi.yaml is stale (run `meshstream contracts generate`)",
    ])


def test_cli_exit_codes(copy):
    cmd = [sys.executable, "-m", "meshstream.cli", "contracts", "check"]
    ok = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert ok.returncode == 0, ok.stderr
    assert "contracts check: ok" in ok.stdout
    _edit_json(copy / "processing" / "failed.v1.avsc",
               lambda d: next(f for f in _payload_fields(d) if f["name"] == "failed_stage").update(type="int"))
    bad = subprocess.run(cmd + ["--schemas", str(copy)], capture_output=True, text=True, cwd=REPO_ROOT, timeout=120)
    assert bad.returncode == 1
    assert "ERROR model.processing.failed.v1-value: new schema cannot read data written with v1" in bad.stderr
    assert "ERROR model.processing.failed.v1-value: consumers on v1 cannot read" in bad.stderr
