"""Test geometry with analytic truth, and encoders to every supported format."""
from __future__ import annotations

import io
import json
import re
import zipfile

import numpy as np
import trimesh

from processors.samples import binary_stl


def box(extents=(10.0, 10.0, 10.0), offset=(0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    m = trimesh.creation.box(extents=extents)
    m.apply_translation(offset)
    return m


def parametric_torus(R: float, r: float, nu: int, nv: int) -> trimesh.Trimesh:
    """Closed torus grid with 2·nu·nv triangles (used for the 1M-triangle bench too)."""
    u = np.linspace(0, 2 * np.pi, nu, endpoint=False)
    v = np.linspace(0, 2 * np.pi, nv, endpoint=False)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    pts = np.stack([(R + r * np.cos(vv)) * np.cos(uu), (R + r * np.cos(vv)) * np.sin(uu), r * np.sin(vv)], -1)
    i = np.arange(nu)[:, None]
    j = np.arange(nv)[None, :]
    a = i * nv + j
    b = ((i + 1) % nu) * nv + j
    c = ((i + 1) % nu) * nv + (j + 1) % nv
    d = i * nv + (j + 1) % nv
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    return trimesh.Trimesh(pts.reshape(-1, 3), faces, process=False)


def stl(mesh) -> bytes:
    return binary_stl(mesh)


def ascii_stl(mesh) -> bytes:
    return trimesh.exchange.stl.export_stl_ascii(mesh).encode()


def obj(mesh) -> bytes:
    return trimesh.exchange.obj.export_obj(mesh, include_normals=False, include_texture=False, header=None).encode()


def ply(mesh, encoding="binary") -> bytes:
    return trimesh.exchange.ply.export_ply(mesh, encoding=encoding, include_attributes=False)


def glb(mesh_or_scene) -> bytes:
    scene = mesh_or_scene if isinstance(mesh_or_scene, trimesh.Scene) else trimesh.Scene(mesh_or_scene)
    return scene.export(file_type="glb")


def gltf_embedded(mesh) -> bytes:
    files = trimesh.exchange.gltf.export_gltf(trimesh.Scene(mesh), embed_buffers=True)
    return files["model.gltf"]


def threemf(mesh_or_scene, unit: str | None = None) -> bytes:
    data = trimesh.exchange.threemf.export_3MF(mesh_or_scene)
    if unit is None:
        return data
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for name in src.namelist():
            content = src.read(name)
            if name == "3D/3dmodel.model":
                content = re.sub(rb'unit="[a-z]*"', f'unit="{unit}"'.encode(), content, count=1)
            dst.writestr(name, content)
    return out.getvalue()


def raw_binary_stl(triangles: np.ndarray) -> bytes:
    """Binary STL from an (n,3,3) corner array, bypassing trimesh (for NaN and odd geometry)."""
    tri = np.asarray(triangles, dtype="<f4").reshape(-1, 3, 3)
    rec = np.zeros(len(tri), dtype=[("n", "<f4", (3,)), ("v", "<f4", (3, 3)), ("a", "<u2")])
    rec["v"] = tri
    return b"test".ljust(80, b" ") + np.uint32(len(tri)).tobytes() + rec.tobytes()


def json_bytes(doc) -> bytes:
    return json.dumps(doc).encode()
