"""Technical metadata against analytic truth, and against trimesh as an independent check."""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import trimesh

from processors.loading import load_mesh
from processors.metadata import SUMMARY_FIELDS, TechnicalMetadata, analyze_bytes, technical_metadata
from processors.samples import sample_models

from . import _meshes as M

SCHEMA = Path(__file__).resolve().parents[3] / "schemas" / "common" / "mesh_summary.avsc"


def meta(mesh: trimesh.Trimesh, encode=M.stl) -> TechnicalMetadata:
    return analyze_bytes(encode(mesh), "m.bin")


def test_cube_is_exact():
    m = meta(M.box())
    assert m.format == "stl"
    assert (m.vertices, m.triangles) == (8, 12)
    assert m.volume == pytest.approx(1000.0, rel=1e-12)
    assert m.surface_area == pytest.approx(600.0, rel=1e-12)
    assert m.bbox_min == (-5.0, -5.0, -5.0) and m.bbox_max == (5.0, 5.0, 5.0)
    assert m.watertight and m.winding_consistent and not m.inverted
    assert (m.bodies, m.degenerate_faces, m.duplicate_faces, m.non_manifold_edges, m.holes) == (1, 0, 0, 0, 0)
    assert m.units == "mm"


def test_sample_cube_has_volume_1000():
    m = analyze_bytes(sample_models()["cube_10mm.stl"], "cube_10mm.stl")
    assert abs(m.volume - 1000.0) / 1000.0 < 1e-6


def test_icosphere_approaches_the_sphere():
    r = 5.0
    m = meta(trimesh.creation.icosphere(subdivisions=5, radius=r))
    # an inscribed polyhedron with 20480 faces is within 0.1% of the sphere
    assert m.volume == pytest.approx(4 / 3 * math.pi * r**3, rel=2e-3)
    assert m.surface_area == pytest.approx(4 * math.pi * r**2, rel=2e-3)
    assert m.volume < 4 / 3 * math.pi * r**3  # inscribed: strictly smaller
    assert m.watertight and m.bodies == 1


def test_torus():
    R, r = 30.0, 10.0
    m = meta(M.parametric_torus(R, r, 256, 128))
    assert m.volume == pytest.approx(2 * math.pi**2 * R * r**2, rel=1e-3)
    assert m.surface_area == pytest.approx(4 * math.pi**2 * R * r, rel=1e-3)
    assert m.watertight and m.winding_consistent and m.bodies == 1 and m.holes == 0
    assert m.bbox_max[2] == pytest.approx(r, rel=1e-6)


def test_two_disjoint_bodies():
    a = M.box()
    b = trimesh.creation.icosphere(subdivisions=3, radius=4.0)
    b.apply_translation((50, 0, 0))
    m = meta(trimesh.util.concatenate([a, b]))
    assert m.bodies == 2
    assert m.volume == pytest.approx(1000.0 + b.volume, rel=1e-6)
    assert m.watertight


def test_open_mesh_has_no_volume_and_one_hole():
    cube = M.box()
    open_box = trimesh.Trimesh(cube.vertices, cube.faces[2:], process=False)  # drop one side
    m = meta(open_box)
    assert not m.watertight
    assert m.volume is None
    assert m.holes == 1
    assert m.boundary_edges == 4
    assert m.surface_area == pytest.approx(500.0)


def test_one_flipped_face_breaks_winding():
    cube = M.box()
    faces = cube.faces.copy()
    faces[0] = faces[0][::-1]
    m = meta(trimesh.Trimesh(cube.vertices, faces, process=False))
    assert m.watertight
    assert not m.winding_consistent
    assert m.volume is None  # a volume from inconsistent winding would be wrong


def test_all_faces_flipped_is_consistent_but_inverted():
    cube = M.box()
    m = meta(trimesh.Trimesh(cube.vertices, cube.faces[:, ::-1], process=False))
    assert m.winding_consistent and m.inverted
    assert m.volume == pytest.approx(1000.0)


def test_degenerate_and_duplicate_faces_are_counted():
    cube = M.box()
    tri = np.concatenate([cube.triangles, [[[0, 0, 0], [1, 1, 1], [2, 2, 2]]], cube.triangles[:1]])
    m = analyze_bytes(M.raw_binary_stl(tri), "x.stl")
    assert m.triangles == 14
    assert m.degenerate_faces == 1
    assert m.duplicate_faces == 1
    assert m.non_manifold_edges == 3  # the duplicated face's edges are used three times
    assert not m.watertight and m.volume is None


def test_same_numbers_from_every_format():
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=5.0)
    results = [meta(sphere, enc) for enc in (M.stl, M.ascii_stl, M.obj, M.ply, M.glb, M.threemf)]
    for r in results:
        assert r.triangles == 1280 and r.vertices == 642 and r.watertight and r.bodies == 1
        assert r.volume == pytest.approx(results[0].volume, rel=1e-5)  # STL stores float32


def test_agrees_with_trimesh_on_a_processed_mesh():
    mesh = M.parametric_torus(20.0, 4.0, 64, 32)
    mesh.faces[5] = mesh.faces[5][::-1]
    data = M.stl(mesh)
    ours = analyze_bytes(data, "t.stl")
    ref = trimesh.load(trimesh.util.wrap_as_stream(data), file_type="stl")
    assert ours.vertices == len(ref.vertices)
    assert ours.watertight == ref.is_watertight
    assert ours.winding_consistent == ref.is_winding_consistent
    assert ours.surface_area == pytest.approx(ref.area, rel=1e-9)
    assert ours.bodies == ref.body_count


def test_summary_matches_the_avro_record_exactly():
    schema = json.loads(SCHEMA.read_text())
    names = tuple(f["name"] for f in schema["fields"])
    assert SUMMARY_FIELDS == names
    s = meta(M.box()).summary()
    assert tuple(s) == names
    assert isinstance(s["bbox_min"], list) and len(s["bbox_max"]) == 3
    assert isinstance(s["vertices"], int) and isinstance(s["surface_area"], float)
    fastavro = pytest.importorskip("fastavro")
    fastavro.validate(s, fastavro.parse_schema(schema), raise_errors=True)
    open_s = meta(trimesh.Trimesh(M.box().vertices, M.box().faces[2:], process=False)).summary()
    assert open_s["volume"] is None
    fastavro.validate(open_s, fastavro.parse_schema(schema), raise_errors=True)


def test_metadata_of_a_loaded_mesh_is_pure():
    loaded = load_mesh(M.stl(M.box()))
    assert technical_metadata(loaded) == technical_metadata(loaded)
    json.dumps(technical_metadata(loaded).to_dict())  # serialisable
