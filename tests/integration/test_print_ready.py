"""The print-ready workflow on the real stack: a 20 mm cube is sliced into 100 layers of 0.2 mm and
the run's terminal event carries the estimate; the per-layer document is in results storage."""
from __future__ import annotations

import json
import uuid

import pytest
import trimesh

from processors.storage import get_bytes
from registry.serde import AvroSerde, registry_client
from streams.client import Publisher
from tests.integration.helpers import terminal_events, upload

pytestmark = pytest.mark.integration


def test_a_cube_is_sliced_and_its_estimate_reaches_the_terminal_event(settings, s3, worker):
    prefix = f"print-ready-{uuid.uuid4().hex[:8]}/"
    cube = trimesh.creation.box(extents=(20, 20, 20))
    cube.apply_translation((0, 0, 10))
    upload(s3, "models", {prefix + "cube/cube.stl": cube.export(file_type="stl")})
    scan_id = Publisher(settings).scan("models", prefix, workflow="print-ready")
    completed, failed = terminal_events(settings, AvroSerde(registry_client(settings)), scan_id, expected=1, timeout=240)
    assert not failed, [r["payload"]["error"] for r in failed]
    (record,) = completed
    estimate = record["payload"]["print_estimate"]
    assert estimate["layers"] == 100 and estimate["printer"] == "Prusa MK4" and estimate["fits_printer"]
    assert 2.0 < estimate["filament_grams"] < 10.0 and estimate["print_time_seconds"] > 300
    steps = {s["stage"]: s["status"] for s in record["payload"]["stages"]}
    assert steps["slicing"] == "completed"
    (doc_ref,) = [r for r in record["payload"]["results"] if r["key"].endswith("slicing/slicing.json")]
    document = json.loads(get_bytes(s3, doc_ref["bucket"], doc_ref["key"], 50_000_000))
    assert len(document["layers"]) == 100
    assert abs(sum(layer["area_mm2"] for layer in document["layers"]) * 0.2 - 8000) < 8000 * 0.03
