"""A compact, versioned binary form of a `LoadedMesh`, so a model is parsed once per pipeline run.

Why: every geometry stage (technical metadata, thumbnails, metamodel, print analysis) needs the
same welded arrays. Parsing (format detection, text parsing, welding) costs as much as a stage's
own work on small models; decoding this form is two `np.frombuffer` calls. The first stage that
reads a model stores it next to the cached file (streams/execution/context.py decides where), keyed by the
file's content and `FORMAT_VERSION`; a loader change bumps the version, so no stage ever reads a
form an older loader wrote.

Layout: MAGIC, a 4-byte big-endian header length, a JSON header (the LoadedMesh fields and the
array shapes), then vertices (float64, little endian, C order) and faces (int64, little endian).
Decoding rebuilds exactly the Trimesh the loader built (process=False, validate=False), so every
result computed from it is the same, byte for byte (tests compare).
"""
from __future__ import annotations

import json
import struct

import numpy as np
import trimesh

from processors.errors import CorruptMeshError, MeshTooLargeError
from processors.loading import Limits, LoadedMesh

MAGIC = b"MSMESH\x00"
# bump when processors/loading.py changes what it produces (welding, validation, units)
FORMAT_VERSION = 1
_LEN = struct.Struct(">I")


def encode(loaded: LoadedMesh) -> bytes:
    vertices = np.ascontiguousarray(loaded.mesh.vertices, dtype="<f8")
    faces = np.ascontiguousarray(loaded.mesh.faces, dtype="<i8")
    header = json.dumps({
        "version": FORMAT_VERSION, "format": loaded.format, "units": loaded.units,
        "source_bytes": loaded.source_bytes, "sha256": loaded.sha256, "units_source": loaded.units_source,
        "notes": list(loaded.notes), "vertices": len(vertices), "faces": len(faces),
    }, separators=(",", ":")).encode()
    return b"".join((MAGIC, _LEN.pack(len(header)), header, vertices.tobytes(), faces.tobytes()))


def decode(data: bytes, limits: Limits = Limits()) -> LoadedMesh:
    """The LoadedMesh `encode` stored; CorruptMeshError for anything else (a truncated or foreign
    object), MeshTooLargeError when it is over this worker's triangle limit."""
    if not data.startswith(MAGIC) or len(data) < len(MAGIC) + _LEN.size:
        raise CorruptMeshError("not a meshstream parsed-mesh object")
    (size,) = _LEN.unpack_from(data, len(MAGIC))
    start = len(MAGIC) + _LEN.size
    try:
        header = json.loads(data[start:start + size])
    except ValueError as exc:
        raise CorruptMeshError(f"parsed-mesh header unreadable: {exc}") from exc
    if header.get("version") != FORMAT_VERSION:
        raise CorruptMeshError(f"parsed-mesh version {header.get('version')} is not {FORMAT_VERSION}")
    nv, nf = int(header["vertices"]), int(header["faces"])
    if nf > limits.max_triangles:
        raise MeshTooLargeError(f"mesh has {nf:,} triangles, over the limit of {limits.max_triangles:,} triangles")
    body = start + size
    if len(data) != body + nv * 24 + nf * 24:
        raise CorruptMeshError("parsed-mesh object is truncated")
    vertices = np.frombuffer(data, dtype="<f8", count=nv * 3, offset=body).reshape(nv, 3).astype(np.float64)
    faces = np.frombuffer(data, dtype="<i8", count=nf * 3, offset=body + nv * 24).reshape(nf, 3).astype(np.int64)
    mesh = trimesh.Trimesh(vertices=vertices, faces=faces, process=False, validate=False)
    return LoadedMesh(mesh=mesh, format=header["format"], units=header["units"], source_bytes=header["source_bytes"],
                      sha256=header["sha256"], units_source=header["units_source"], notes=tuple(header["notes"]))
