"""The manifest loader: derived subjects, shared types inlined exactly once, clear errors."""
from __future__ import annotations

import json
import shutil

import fastavro
import pytest

from registry.manifest import ManifestError, default_manifest, load_manifest
from schemas import SCHEMAS_DIR


def test_every_contract_is_self_contained_avro():
    for c in default_manifest().contracts:
        assert c.subject == f"{c.topic}-value"
        fastavro.parse_schema(json.loads(c.schema_str))  # no dangling references
        text = c.schema_str
        assert text.count('"name":"Envelope"') == 1, c.name  # defined once, then referenced


def test_named_type_used_twice_is_defined_once():
    c = default_manifest().by_name("processing.completed")
    assert c.schema_str.count('"name":"ObjectRef"') == 1


def _copy(tmp_path):
    root = tmp_path / "schemas"
    shutil.copytree(SCHEMAS_DIR, root)
    return root


def test_topic_convention_is_enforced(tmp_path):
    root = _copy(tmp_path)
    text = (root / "contracts.yaml").read_text().replace("model.processing.failed.v1", "processing_failed")
    (root / "contracts.yaml").write_text(text)
    with pytest.raises(ManifestError, match="processing_failed"):
        load_manifest(root)


def test_invalid_schema_is_named(tmp_path):
    root = _copy(tmp_path)
    path = root / "processing" / "failed.v1.avsc"
    path.write_text(path.read_text().replace('"type": "string"', '"type": "strnig"', 1))
    with pytest.raises(ManifestError, match="processing/failed.v1.avsc"):
        load_manifest(root)
