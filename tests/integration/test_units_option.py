"""`meshstream scan --units mm` end to end (issue 22): a glTF vase modelled in millimetres reads as
150 m tall under glTF's metre convention and fits no printer; the same file scanned with
`--units mm` is 150 mm tall and fits the common printers. The option is published by the real CLI,
carried by the scan's ProcessingOptions to the stages' requests and applied by a real worker."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
import trimesh

from processors.storage import get_bytes
from registry.serde import AvroSerde, registry_client
from tests.conftest import ROOT
from tests.integration.helpers import terminal_events, upload

pytestmark = pytest.mark.integration


def _scan(settings, prefix: str, *extra: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "meshstream.cli", "scan", "--bucket", "models", "--prefix", prefix,
                           "--workflow", "complete", "--json", *extra], cwd=ROOT, env=os.environ, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)["scan_id"]


def _print_analysis(s3, completed: dict) -> dict:
    ref = next(r for r in completed["payload"]["results"] if r["key"].endswith("print-analysis.json"))
    return json.loads(get_bytes(s3, ref["bucket"], ref["key"], 10_000_000))


def test_units_override_turns_a_150_m_vase_into_a_printable_one(settings, s3, worker):
    vase = trimesh.creation.cylinder(radius=40.0, height=150.0, sections=32).export(file_type="glb")
    tag = uuid.uuid4().hex[:8]
    upload(s3, "models", {f"units-{tag}/as-is/vase.glb": vase, f"units-{tag}/mm/vase.glb": vase})
    as_is = _scan(settings, f"units-{tag}/as-is/")
    in_mm = _scan(settings, f"units-{tag}/mm/", "--units", "mm")
    serde = AvroSerde(registry_client(settings))
    (metres,), failed = terminal_events(settings, serde, as_is, 1)
    assert not failed
    (millimetres,), failed = terminal_events(settings, serde, in_mm, 1)
    assert not failed
    pa_m, pa_mm = _print_analysis(s3, metres), _print_analysis(s3, millimetres)
    assert pa_m["units_assumed"] == "m" and max(pa_m["extents_mm"]) == pytest.approx(150_000.0, rel=1e-6)
    assert not any(f["fits_reoriented"] for f in pa_m["bed_fit"])
    assert pa_mm["units_assumed"] == "mm" and max(pa_mm["extents_mm"]) == pytest.approx(150.0, rel=1e-6)
    assert {f["printer"] for f in pa_mm["bed_fit"] if f["fits"]} >= {"Prusa MK4", "Creality K1 Max"}
