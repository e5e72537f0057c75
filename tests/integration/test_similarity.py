"""Near duplicates on the real stack: a model uploaded by one owner, then a rotated, translated,
scaled, subdivided copy exported as OBJ by another owner: the copy's terminal event names the
original (another owner); a distinct model matches neither; rescanning the original never
matches it with itself, and now finds the copy."""
from __future__ import annotations

import time
import uuid

import numpy as np
import pytest
import trimesh

from processors.sample_shapes import distinct_shapes
from registry.serde import AvroSerde, registry_client
from streams.client import Publisher
from tests.integration.helpers import terminal_events, upload

pytestmark = pytest.mark.integration
WORKFLOW = "duplicate-check"


def _copy(mesh: trimesh.Trimesh) -> trimesh.Trimesh:
    m = mesh.copy()
    t = trimesh.transformations.random_rotation_matrix(np.random.default_rng(9).random(3))
    t[:3, 3] = (120.0, -40.0, 15.0)
    m.apply_transform(t)
    m.apply_scale(2.5)
    return m.subdivide()


def _scan(settings, serde, prefix: str, owner: str, expected: int) -> dict[str, dict]:
    scan_id = Publisher(settings).scan("models", prefix, workflow=WORKFLOW, owner_id=owner)
    completed, failed = terminal_events(settings, serde, scan_id, expected=expected, timeout=240)
    assert not failed, [r["payload"]["error"] for r in failed]
    assert len(completed) == expected
    return {r["payload"]["name"]: r["payload"] for r in completed}


def test_a_moved_copy_by_another_owner_is_named_and_a_rescan_never_matches_itself(settings, s3, worker):
    serde = AvroSerde(registry_client(settings))
    shapes = distinct_shapes()
    tag = uuid.uuid4().hex[:8]
    original = shapes["bracket_80_10"]
    upload(s3, "models", {f"sim-{tag}-a/bracket/bracket.stl": original.export(file_type="stl")})
    first = _scan(settings, serde, f"sim-{tag}-a/", "owner-a", 1)["bracket"]
    assert first["near_duplicates"] is not None  # the step ran (an empty list or earlier brackets of other tests)
    assert all(m["model_id"] != first["model_id"] for m in first["near_duplicates"])

    upload(s3, "models", {f"sim-{tag}-b/copy/copy.obj": _copy(original).export(file_type="obj").encode(),
                          f"sim-{tag}-b/other/other.stl": shapes["dumbbell_8_20"].export(file_type="stl")})
    second = _scan(settings, serde, f"sim-{tag}-b/", "owner-b", 2)
    copy, other = second["copy"], second["other"]
    match = next((m for m in copy["near_duplicates"] if m["model_id"] == first["model_id"]), None)
    assert match is not None, copy["near_duplicates"]
    assert match["other_owner"] is True and match["owner_id"] == "owner-a" and 0.5 <= match["similarity"] <= 1.0
    assert match["run_id"] == first["run_id"]
    assert {first["model_id"], copy["model_id"]}.isdisjoint(m["model_id"] for m in other["near_duplicates"])
    assert {s["stage"]: s["status"] for s in copy["stages"]}["similarity"] == "completed"

    again = _scan(settings, serde, f"sim-{tag}-a/", "owner-a", 1)["bracket"]  # reprocessing the same model
    assert again["model_id"] == first["model_id"] and again["run_id"] != first["run_id"]
    assert all(m["model_id"] != first["model_id"] for m in again["near_duplicates"])
    back = next((m for m in again["near_duplicates"] if m["model_id"] == copy["model_id"]), None)
    assert back is not None and back["other_owner"] is True and back["owner_id"] == "owner-b"

    # the console's model page shows the match, flagged as another owner's
    import requests

    from tests.integration.browser import browser

    deadline = time.monotonic() + 60  # the worker's read model follows the terminal topic
    while time.monotonic() < deadline and not (requests.get(f"{worker.url}/models/{copy['model_id']}", timeout=10)
                                               .json().get("latest") or {}).get("near_duplicates"):
        time.sleep(1)
    with browser() as page:
        page.goto(f"{worker.url}/#/model/{copy['model_id']}")
        row = page.wait_for_selector(f"#near-duplicates tr.other-owner a[href='#/model/{first['model_id']}']")
        assert row is not None
        assert "another owner" in page.inner_text("#near-duplicates") and "owner-a" in page.inner_text("#near-duplicates")
