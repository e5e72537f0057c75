"""Print analysis against shapes whose overhangs, walls and size are known."""
from __future__ import annotations

import math

import numpy as np
import pytest
import trimesh

from processors.loading import load_mesh
from processors.print_analysis import analyze_print, bed_fit, wall_thickness, _face_data

from . import _meshes as M


def analyze(mesh, encode=M.stl):
    return analyze_print(load_mesh(encode(mesh), "m.bin"))


def test_cube_is_perfect():
    a = analyze(M.box())
    assert a.score == 100 and a.reasons == ()
    assert a.overhang_area_mm2 == 0 and not a.needs_supports
    assert a.min_wall_thickness_mm == pytest.approx(10.0)
    assert a.extents_mm == (10.0, 10.0, 10.0)
    assert all(f.fits for f in a.bed_fit)


def test_table_overhang_and_support_volume():
    pillar = M.box((4, 4, 10), (0, 0, 5))
    plate = M.box((20, 20, 2), (0, 0, 11))
    a = analyze(trimesh.util.concatenate([pillar, plate]))
    assert a.overhang_area_mm2 == pytest.approx(400.0)  # the plate's underside
    assert a.support_volume_mm3 == pytest.approx(4000.0)  # 400 mm2 x 10 mm to the bed
    assert a.needs_supports
    assert any(r.code == "overhangs" for r in a.reasons)


def test_sphere_overhang_fraction_matches_the_cap():
    a = analyze(trimesh.creation.icosphere(subdivisions=4, radius=10.0))
    cap = (1 - math.cos(math.radians(45))) / 2  # area fraction of a spherical cap of 45 degrees
    assert a.overhang_fraction == pytest.approx(cap, abs=0.01)


def test_thin_slab_wall_is_measured_exactly():
    a = analyze(M.box((30, 30, 0.5)))
    assert a.min_wall_thickness_mm == pytest.approx(0.5, rel=1e-6)
    assert any(r.code == "thin_walls" for r in a.reasons)
    assert a.score < 100


def test_tilted_slab_wall_is_projected_onto_the_normal():
    slab = M.box((30, 30, 1.0))
    slab.apply_transform(trimesh.transformations.rotation_matrix(math.radians(20), (1, 0, 0)))
    tri, normals, areas = _face_data(np.asarray(slab.vertices), np.asarray(slab.faces))
    t = wall_thickness(tri, normals, areas)
    assert np.nanmedian(t) == pytest.approx(1.0, rel=1e-6)  # rays from the big faces: exact
    # a few rays from near the narrow edge faces exit early; the robust minimum ignores them
    assert analyze(slab).min_wall_thickness_mm == pytest.approx(1.0, rel=1e-6)


def test_hollow_box_has_thin_walls():
    outer = M.box((20, 20, 20))
    inner = M.box((18, 18, 18))
    inner.invert()
    a = analyze(trimesh.util.concatenate([outer, inner]))
    assert a.min_wall_thickness_mm == pytest.approx(1.0, rel=1e-6)


def test_open_mesh_is_penalised_with_repairs_listed():
    cube = M.box()
    a = analyze(trimesh.Trimesh(cube.vertices, cube.faces[2:], process=False))
    assert any(r.code == "not_watertight" for r in a.reasons)
    assert [i.code for i in a.issues] == ["holes"] and a.issues[0].repairable
    assert a.score <= 70


def test_bed_fit_table():
    fits = {f.printer: f for f in bed_fit((300, 100, 100))}
    assert not fits["Prusa MK4"].fits and not fits["Prusa MK4"].fits_reoriented
    assert fits["Creality K1 Max"].fits
    tall = {f.printer: f for f in bed_fit((100, 100, 240))}
    assert not tall["Prusa MK4"].fits and tall["Prusa MK4"].fits_reoriented  # lay it down
    assert tall["Bambu Lab X1/P1"].fits


def test_too_big_and_units():
    a = analyze(M.box((400, 400, 400)))
    assert any(r.code == "too_big" for r in a.reasons)
    g = analyze(M.box((0.1, 0.1, 0.1)), M.glb)  # glTF is metres: a 10 cm cube
    assert g.extents_mm == pytest.approx((100.0, 100.0, 100.0))
    assert g.scale_to_mm == 1000.0


def test_tiny_model_is_flagged():
    a = analyze(M.box((1, 1, 1)))
    assert any(r.code == "tiny" for r in a.reasons)


def test_deterministic_and_bounded_score():
    mesh = M.parametric_torus(20, 3, 64, 32)
    a, b = analyze(mesh), analyze(mesh)
    assert a == b
    assert 0 <= a.score <= 100
    assert a.score == 100 + sum(r.delta for r in a.reasons)


def test_contract_fields_match_the_avro_payload():
    import json
    from pathlib import Path

    schema = json.loads((Path(__file__).resolve().parents[3] / "schemas/print_analysis/completed.v1.avsc").read_text())
    payload = next(f for f in schema["fields"] if f["name"] == "payload")["type"]
    names = {f["name"] for f in payload["fields"]} - {"run_id", "model_id", "files", "result"}
    fields = analyze(M.box()).contract_fields()
    assert set(fields) == names


def test_request_options_take_effect():
    """printers, overhang_angle_deg and the sampling density are honoured, not ignored."""
    from processors.print_analysis import UnknownPrinterError

    loaded = load_mesh(M.stl(M.box()), "m.bin")
    only = analyze_print(loaded, printers=("Prusa MK4",))
    assert [f.printer for f in only.bed_fit] == ["Prusa MK4"]
    with pytest.raises(UnknownPrinterError) as exc:
        analyze_print(loaded, printers=("Printomatic 9000",))
    assert exc.value.code == "unknown_printer" and not exc.value.retryable
    sphere = load_mesh(M.stl(trimesh.creation.icosphere(subdivisions=3, radius=10)), "s.bin")
    steep, shallow = analyze_print(sphere, overhang_angle_deg=30), analyze_print(sphere, overhang_angle_deg=60)
    assert steep.overhang_area_mm2 > 0 and shallow.overhang_area_mm2 > 0
    assert steep.overhang_area_mm2 != pytest.approx(shallow.overhang_area_mm2, rel=0.1)
    assert "beyond 30 degrees" in steep.reasons[0].reason
