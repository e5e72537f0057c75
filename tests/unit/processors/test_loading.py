"""Loading: format detection by content, limits, units, and hostile inputs -> typed errors."""
from __future__ import annotations

import io
import os
import struct
import zipfile

import numpy as np
import pytest
import trimesh

from processors import loading
from processors.errors import (
    CorruptMeshError,
    EmptyFileError,
    InvalidGeometryError,
    MeshTooLargeError,
    ProcessingError,
    UnsupportedFormatError,
)
from processors.loading import Limits, detect_format, load_mesh

from . import _meshes as M


@pytest.fixture(scope="module")
def cube():
    return M.box()


# ----------------------------------------------------------------------------- detection

@pytest.mark.parametrize(
    "encode, expected",
    [
        (M.stl, "stl"),
        (M.ascii_stl, "stl"),
        (M.obj, "obj"),
        (M.ply, "ply"),
        (lambda m: M.ply(m, "ascii"), "ply"),
        (M.glb, "glb"),
        (M.gltf_embedded, "gltf"),
        (M.threemf, "3mf"),
    ],
)
def test_every_format_is_detected_by_content_and_loads_the_same_cube(cube, encode, expected):
    data = encode(cube)
    assert detect_format(data) == expected
    # a misleading extension does not change the answer
    assert detect_format(data, "model.png") == expected
    assert detect_format(data, "model.obj" if expected != "obj" else "model.stl") == expected
    loaded = load_mesh(data, "whatever.bin")
    assert loaded.format == expected
    assert len(loaded.mesh.faces) == 12
    assert len(loaded.mesh.vertices) == 8  # welded
    assert loaded.source_bytes == len(data)
    assert len(loaded.sha256) == 64


def test_binary_stl_with_a_solid_header_is_still_binary(cube):
    data = M.binary_stl if False else None  # noqa: F841 - clarity
    raw = bytearray(M.stl(cube))
    raw[:80] = b"solid exported by a CAD tool that writes ascii-looking headers".ljust(80)
    assert detect_format(bytes(raw)) == "stl"
    assert len(load_mesh(bytes(raw)).mesh.faces) == 12


def test_units_are_reported(cube):
    assert load_mesh(M.stl(cube)).units == "mm"
    assert load_mesh(M.stl(cube)).units_source == "convention"
    assert load_mesh(M.glb(cube)).units == "m"
    assert load_mesh(M.obj(cube)).units is None
    assert load_mesh(M.threemf(cube)).units == "mm"  # 3MF default unit
    assert load_mesh(M.threemf(cube, unit="inch")).units == "in"
    assert load_mesh(M.threemf(cube, unit="inch")).units_source == "file"


def test_scene_with_two_meshes_is_concatenated():
    a = M.box()
    b = M.box(offset=(30, 0, 0))
    loaded = load_mesh(M.glb(trimesh.Scene([a, b])))
    assert len(loaded.mesh.faces) == 24


# ----------------------------------------------------------------------------- limits

def test_byte_limit_is_checked_before_parsing(cube, monkeypatch):
    data = M.stl(cube)
    monkeypatch.setattr(loading, "detect_format", lambda *a, **k: pytest.fail("parsed before the byte check"))
    with pytest.raises(MeshTooLargeError) as err:
        load_mesh(data, limits=Limits(max_bytes=100))
    assert err.value.code == "too_large"
    assert "684" in str(err.value) and "100" in str(err.value)


def test_binary_stl_triangle_limit_comes_from_the_header(monkeypatch):
    sphere = trimesh.creation.icosphere(subdivisions=2)
    monkeypatch.setattr(loading, "_parse_binary_stl", lambda *a: pytest.fail("parsed before the triangle check"))
    with pytest.raises(MeshTooLargeError, match=r"320 triangles, over the limit of 100"):
        load_mesh(M.stl(sphere), limits=Limits(max_triangles=100))


@pytest.mark.parametrize("encode", [M.ascii_stl, M.obj, M.ply, lambda m: M.ply(m, "ascii"), M.glb, M.gltf_embedded, M.threemf])
def test_triangle_limit_applies_to_every_format(encode, monkeypatch):
    sphere = trimesh.creation.icosphere(subdivisions=2)
    monkeypatch.setattr(loading, "_parse_with_trimesh", lambda *a: pytest.fail("parsed before the triangle check"))
    with pytest.raises(MeshTooLargeError, match="over the limit of 100 triangles"):
        load_mesh(encode(sphere), limits=Limits(max_triangles=100))


def test_glb_instancing_counts_toward_the_limit():
    sphere = trimesh.creation.icosphere(subdivisions=2)  # 320 triangles
    scene = trimesh.Scene()
    for i in range(4):
        scene.add_geometry(sphere, geom_name="s", node_name=f"n{i}", transform=trimesh.transformations.translation_matrix((i * 3, 0, 0)))
    data = M.glb(scene)
    with pytest.raises(MeshTooLargeError):
        load_mesh(data, limits=Limits(max_triangles=1000))
    assert len(load_mesh(data).mesh.faces) == 1280


def test_3mf_zip_bomb_is_bounded(cube):
    with pytest.raises(MeshTooLargeError, match="inflates"):
        load_mesh(M.threemf(cube), limits=Limits(max_uncompressed_bytes=1000))


# ----------------------------------------------------------------------------- hostile inputs

def test_empty_file():
    with pytest.raises(EmptyFileError, match="empty") as err:
        load_mesh(b"", "x.stl")
    assert err.value.code == "empty_file" and not err.value.retryable
    with pytest.raises(EmptyFileError):
        load_mesh(b"  \n\t ", "x.obj")


def test_truncated_binary_stl(cube):
    data = M.stl(cube)[:-7]
    with pytest.raises(CorruptMeshError, match=r"declares 12 triangles = 684 bytes but the file has 677") as err:
        load_mesh(data, "part.stl")
    assert err.value.code == "corrupt_mesh"
    with pytest.raises(UnsupportedFormatError) as err:  # no name: we cannot know it meant STL
        load_mesh(data)
    assert err.value.code == "unsupported_format"


@pytest.mark.parametrize("ext", ["stl", "obj", "ply", "glb", "gltf", "3mf"])
def test_random_bytes_with_a_mesh_extension(ext):
    data = np.random.default_rng(7).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    with pytest.raises(CorruptMeshError):
        load_mesh(data, f"model.{ext}")


def test_random_bytes_without_a_name_are_unsupported():
    data = np.random.default_rng(8).integers(0, 256, 5000, dtype=np.uint8).tobytes()
    with pytest.raises(UnsupportedFormatError, match="not a supported mesh format"):
        detect_format(data)


def test_png_bytes_named_stl():
    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8)).save(buf, "PNG")
    with pytest.raises(CorruptMeshError, match="not a valid STL"):
        load_mesh(buf.getvalue(), "cube.stl")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_and_inf_vertices_in_stl(cube, bad):
    tri = cube.triangles.copy()
    tri[3, 1, 2] = bad
    with pytest.raises(InvalidGeometryError, match=r"1 of \d+ vertices have NaN or infinite") as err:
        load_mesh(M.raw_binary_stl(tri), "x.stl")
    assert err.value.code == "invalid_geometry"


def test_nan_vertex_in_obj():
    text = b"v 0 0 0\nv 1 0 0\nv 0 nan 0\nv 0 0 1\nf 1 2 3\nf 1 2 4\n"
    with pytest.raises(InvalidGeometryError):
        load_mesh(text, "x.obj")


def test_zero_area_faces_only_is_invalid():
    tri = np.array([[[0, 0, 0], [1, 1, 1], [2, 2, 2]], [[0, 0, 0], [0, 0, 0], [5, 0, 0]]], float)
    with pytest.raises(InvalidGeometryError, match="zero area"):
        load_mesh(M.raw_binary_stl(tri), "flat.stl")


def test_obj_without_faces_is_invalid():
    with pytest.raises(InvalidGeometryError, match="no faces"):
        load_mesh(b"v 0 0 0\nv 1 0 0\nv 0 1 0\n", "points.obj")


def test_obj_face_index_out_of_range():
    with pytest.raises(ProcessingError):
        load_mesh(b"v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 99\n", "x.obj")


def test_binary_stl_of_zero_triangles():
    with pytest.raises(InvalidGeometryError, match="no faces"):
        load_mesh(b"\0" * 80 + struct.pack("<I", 0), "x.stl")


def test_ply_header_claiming_a_billion_vertices_fails_fast():
    data = (
        b"ply\nformat binary_little_endian 1.0\nelement vertex 1000000000\nproperty float x\n"
        b"property float y\nproperty float z\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
        + b"\0" * 100
    )
    with pytest.raises(CorruptMeshError, match="truncated"):
        load_mesh(data, "x.ply")


def test_ply_triangle_limit_from_header():
    data = b"ply\nformat ascii 1.0\nelement vertex 3\nproperty float x\nelement face 9999999\nproperty list uchar int vertex_indices\nend_header\n"
    with pytest.raises(MeshTooLargeError, match="9,999,999"):
        load_mesh(data, "x.ply")


def test_truncated_glb(cube):
    data = M.glb(cube)
    with pytest.raises(CorruptMeshError, match="truncated"):
        load_mesh(data[: len(data) // 2], "x.glb")


def test_gltf_with_external_buffer_is_a_clear_error():
    doc = {"asset": {"version": "2.0"}, "buffers": [{"uri": "../../etc/passwd", "byteLength": 10}]}
    with pytest.raises(CorruptMeshError, match="external buffer"):
        load_mesh(M.json_bytes(doc), "x.gltf")


def test_deeply_nested_gltf_json():
    data = b'{"asset": ' + b"[" * 100000 + b"]" * 100000 + b"}"
    with pytest.raises(ProcessingError):
        load_mesh(data, "x.gltf")


def test_zip_that_is_not_3mf(cube):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(CorruptMeshError):
        load_mesh(buf.getvalue(), "x.3mf")
    with pytest.raises(UnsupportedFormatError):
        load_mesh(buf.getvalue(), "x.zip")


def test_corrupt_3mf_xml(cube):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("3D/3dmodel.model", "<model><resources><object><mesh><vertices><vertex x='a'")
    with pytest.raises(ProcessingError):
        load_mesh(buf.getvalue(), "x.3mf")


def test_errors_are_serialisable():
    err = MeshTooLargeError("too big")
    assert err.to_dict() == {"code": "too_large", "message": "too big", "retryable": False}
    assert isinstance(err, ProcessingError)


def test_hash_identifies_identical_content(cube):
    a = load_mesh(M.stl(cube))
    b = load_mesh(M.stl(M.box()))
    c = load_mesh(M.stl(M.box(extents=(10, 10, 11))))
    assert a.sha256 == b.sha256 != c.sha256


def test_load_from_a_file_on_disk(tmp_path, cube):
    p = tmp_path / "c.stl"
    p.write_bytes(M.stl(cube))
    assert load_mesh(p.read_bytes(), p.name).format == "stl"
    assert os.path.getsize(p) == 684
