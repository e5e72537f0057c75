"""Releasing: the next immutable version per changed contract, refused when incompatible."""
from __future__ import annotations

import json
import shutil

import pytest

from registry.compatibility import ReleaseError, load_releases, release
from registry.manifest import load_manifest
from schemas import SCHEMAS_DIR


@pytest.fixture
def copy(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    release(load_manifest(root))  # whatever is pending on main, so each test starts clean
    return root


def _add_field(path, field):
    doc = json.loads(path.read_text())
    doc["fields"][1]["type"]["fields"].append(field)
    path.write_text(json.dumps(doc, indent=2))


def test_release_writes_next_version_and_locks_it(copy):
    assert release(load_manifest(copy)) == []  # nothing changed
    before = load_releases(copy).latest("model.download.failed.v1-value")[0]
    _add_field(copy / "download" / "failed.v1.avsc", {"name": "attempt", "type": "int", "default": 1})
    done = release(load_manifest(copy))
    assert done == [("model.download.failed.v1-value", before + 1)]
    rel = load_releases(copy)
    assert rel.errors == []
    assert json.loads(rel.latest("model.download.failed.v1-value")[1]) == load_manifest(copy).by_name("download.failed").schema
    assert f"model.download.failed.v1-value/v{before + 1}.avsc" in (copy / "released" / "SHA256SUMS").read_text()
    assert release(load_manifest(copy)) == []


def test_incompatible_change_is_not_released(copy):
    _add_field(copy / "download" / "failed.v1.avsc", {"name": "attempt", "type": "int"})  # no default
    lock = (copy / "released" / "SHA256SUMS").read_text()
    with pytest.raises(ReleaseError, match=r"model.download.failed.v1-value: new schema cannot read data written with v1"):
        release(load_manifest(copy))
    assert (copy / "released" / "SHA256SUMS").read_text() == lock


def test_planned_contracts_are_not_released(copy):
    # slicing as it was while planned: no released versions yet
    manifest = copy / "contracts.yaml"
    manifest.write_text(manifest.read_text().replace("    schema: slicing/requested.v1.avsc\n",
                                                     "    schema: slicing/requested.v1.avsc\n    status: planned\n"))
    shutil.rmtree(copy / "released" / "model.slicing.requested.v1-value")
    sums = copy / "released" / "SHA256SUMS"
    sums.write_text("".join(line for line in sums.read_text().splitlines(True) if "model.slicing.requested" not in line))
    _add_field(copy / "slicing" / "requested.v1.avsc", {"name": "nozzle_mm", "type": "double"})
    assert release(load_manifest(copy)) == []


def test_release_refuses_when_history_was_tampered_with(copy):
    path = copy / "released" / "model.processing.completed.v1-value" / "v1.avsc"
    path.write_text(path.read_text() + " ")
    with pytest.raises(ReleaseError, match="edited after release"):
        release(load_manifest(copy))
