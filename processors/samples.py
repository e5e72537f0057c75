"""The bundled sample models, generated deterministically instead of stored in git.

Why generated: the demo and tests need a handful of small, known-truth models (a 10 mm cube
has a volume of exactly 1000 mm^3), and building them with trimesh keeps the repository free of
binary blobs while every run gets byte-identical files (same content hash, same model ids).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import trimesh

_STL_HEADER = b"meshstream sample model (binary STL, millimetres)"


def binary_stl(mesh: trimesh.Trimesh, header: bytes = _STL_HEADER) -> bytes:
    """Binary STL of `mesh` with a fixed header, so the bytes depend on the geometry only."""
    tri = np.asarray(mesh.triangles, dtype="<f4")
    normals = np.asarray(mesh.face_normals, dtype="<f4")
    rec = np.zeros(len(tri), dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["n"] = normals
    rec["v"] = tri
    head = header[:80].ljust(80, b" ")
    return head + np.uint32(len(tri)).tobytes() + rec.tobytes()


def _cube() -> trimesh.Trimesh:
    return trimesh.creation.box(extents=(10.0, 10.0, 10.0))


def _bracket_parts() -> tuple[trimesh.Trimesh, trimesh.Trimesh]:
    base = trimesh.creation.box(extents=(40.0, 20.0, 4.0))
    base.apply_translation((0.0, 0.0, 2.0))  # sits on z = 0
    upright = trimesh.creation.box(extents=(4.0, 20.0, 30.0))
    upright.apply_translation((-18.0, 0.0, 19.0))  # stands on the base's left end
    return base, upright


def sample_meshes() -> dict[str, trimesh.Trimesh]:
    """The sample geometry by object key (useful for tests that want the truth as a mesh)."""
    sphere = trimesh.creation.icosphere(subdivisions=3, radius=5.0)
    torus = trimesh.creation.torus(major_radius=20.0, minor_radius=5.0, major_sections=48, minor_sections=24)
    cylinder = trimesh.creation.cylinder(radius=8.0, height=20.0, sections=48)
    base, upright = _bracket_parts()
    return {
        "cube_10mm.stl": _cube(),
        "sphere_r5.stl": sphere,
        "bracket/bracket_part_01.stl": base,
        "bracket/bracket_part_02.stl": upright,
        "torus.obj": torus,
        "cylinder.ply": cylinder,
    }


def sample_models() -> dict[str, bytes]:
    """Sample files by relative object key; byte-identical on every call.

    Includes `corrupt.stl`: a binary STL cut off in the middle of its third triangle record,
    which every loader must reject with a typed `corrupt_mesh` error.
    """
    meshes = sample_meshes()
    out: dict[str, bytes] = {}
    for key, mesh in meshes.items():
        if key.endswith(".stl"):
            out[key] = binary_stl(mesh)
        elif key.endswith(".obj"):
            text = trimesh.exchange.obj.export_obj(mesh, include_normals=False, include_texture=False, header=None)
            out[key] = text.encode("ascii")
        elif key.endswith(".ply"):
            out[key] = trimesh.exchange.ply.export_ply(mesh, encoding="binary", include_attributes=False)
    cube = out["cube_10mm.stl"]
    out["corrupt.stl"] = cube[: 84 + 2 * 50 + 17]
    return out


def write_samples(directory: str | Path) -> list[Path]:
    """Write `sample_models()` under `directory` (creating sub-folders); returns the paths."""
    root = Path(directory)
    paths = []
    for key, data in sample_models().items():
        path = root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        paths.append(path)
    return paths


__all__ = ["binary_stl", "sample_meshes", "sample_models", "write_samples"]
