"""Load a mesh from bytes: detect the format by content, enforce limits, weld vertices.

Why its own module: this is the only place untrusted bytes meet a parser. Its contract is that
for ANY input it either returns a `LoadedMesh` or raises a `ProcessingError` subclass, quickly:

* the byte limit is checked before anything is parsed;
* the triangle count is checked from headers before the geometry is materialised (binary STL
  header count, PLY `element face`, glTF accessors, 3MF `<triangle>` elements, STL/OBJ face
  records), and again, exactly, after loading;
* declared sizes are checked against the real byte count, so a header claiming a billion
  vertices never reaches an allocator;
* every exception from trimesh/numpy/zip/json is converted to a typed error.

Binary STL, the common case, is parsed here with one `np.frombuffer` (it is a fixed-size
record format); other formats go through trimesh with processing disabled, and vertices are
welded by `meshops.merge_vertices`, which is much faster than trimesh's own merge.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
import struct
import zipfile
from dataclasses import dataclass, field, replace

import numpy as np
import trimesh

from processors.errors import (
    CorruptMeshError,
    EmptyFileError,
    InvalidGeometryError,
    MeshTooLargeError,
    ProcessingError,
    UnsupportedFormatError,
)
from processors.meshops import merge_vertices

FORMATS = ("stl", "obj", "ply", "glb", "gltf", "3mf")

# Extensions that name a mesh format; used only to break ties and to word errors.
MESH_EXTENSIONS = {"stl": "stl", "obj": "obj", "ply": "ply", "glb": "glb", "gltf": "gltf", "3mf": "3mf"}

_BINARY_STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")])

# 3MF unit attribute -> short unit name (3MF core spec, section 3.4: default millimeter).
_3MF_UNITS = {"micron": "um", "millimeter": "mm", "centimeter": "cm", "inch": "in", "foot": "ft", "meter": "m"}


@dataclass(frozen=True)
class Limits:
    """Resource limits for one file. `max_uncompressed_bytes` bounds what a 3MF zip may inflate to."""

    max_bytes: int = 256 * 1024 * 1024
    max_triangles: int = 5_000_000
    max_uncompressed_bytes: int = 1024 * 1024 * 1024


@dataclass(frozen=True, eq=False)
class LoadedMesh:
    """A parsed, welded triangle mesh plus what we learned about the file it came from.

    `mesh` is a `trimesh.Trimesh` built with processing off: vertices are welded (bit-identical
    positions merged, unreferenced vertices dropped), faces are kept exactly as in the file,
    including degenerate and duplicate ones, so metadata can count them.
    """

    mesh: trimesh.Trimesh
    format: str
    units: str | None
    source_bytes: int
    sha256: str
    units_source: str = "unknown"  # "file", "spec", "convention", "override" or "unknown"
    notes: tuple[str, ...] = field(default=())


# --------------------------------------------------------------------------- format detection

def _extension(filename: str | None) -> str | None:
    if not filename or "." not in filename:
        return None
    return MESH_EXTENSIONS.get(filename.rsplit(".", 1)[-1].lower())


def _looks_text(sample: bytes) -> bool:
    """No NUL bytes and at least 95% printable ASCII/whitespace (UTF-8 comments tolerated)."""
    if not sample or b"\x00" in sample:
        return False
    printable = sum(1 for b in sample if 32 <= b < 127 or b in (9, 10, 13))
    return printable >= 0.95 * len(sample)


def _binary_stl_count(data: bytes) -> int | None:
    """Triangle count if the size matches the binary STL rule 84 + 50·n exactly, else None."""
    if len(data) < 84:
        return None
    (count,) = struct.unpack_from("<I", data, 80)
    return count if 84 + 50 * count == len(data) else None


def _is_3mf(data: bytes) -> bool:
    if not data.startswith(b"PK\x03\x04"):
        return False
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return any(n.lower() == "3d/3dmodel.model" or (n.lower().startswith("3d/") and n.lower().endswith(".model")) for n in zf.namelist())
    except Exception:  # noqa: BLE001 - any zip error means "not a 3MF"
        return False


_OBJ_VERTEX = re.compile(rb"(?m)^[ \t]*v[ \t]+[-+.0-9]")
_OBJ_FACE = re.compile(rb"(?m)^[ \t]*f[ \t]+[-0-9]")


def _candidates(data: bytes) -> list[str]:
    """Formats the content is consistent with, strongest evidence first."""
    head = data[:4096]
    if data.startswith(b"glTF"):
        return ["glb"]
    if data.startswith(b"PK\x03\x04"):
        return ["3mf"] if _is_3mf(data) else []
    if data.startswith(b"ply") and data[3:4] in (b"\n", b"\r"):
        return ["ply"]
    found: list[str] = []
    binary_stl = _binary_stl_count(data) is not None
    if _looks_text(head):
        stripped = head.lstrip()
        if stripped[:5].lower() == b"solid" and (b"facet" in head or b"endsolid" in head):
            found.append("stl")
        elif stripped.startswith(b"{") and b'"asset"' in data:
            found.append("gltf")
        elif _OBJ_VERTEX.search(data, 0, 1 << 20) or (_OBJ_VERTEX.search(data) is not None):
            found.append("obj")
    if binary_stl and "stl" not in found:
        found.append("stl")
    return found


def detect_format(data: bytes, filename: str | None = None) -> str:
    """Return the format of `data` ("stl", "obj", "ply", "glb", "gltf" or "3mf") by content.

    The filename's extension is only a tie-breaker between formats the content is consistent
    with; a `.stl` name on PNG bytes does not make them an STL. Raises `EmptyFileError` or
    `UnsupportedFormatError`.
    """
    if len(data) == 0:
        raise EmptyFileError("file is empty (0 bytes)")
    found = _candidates(bytes(data))
    if not found:
        raise UnsupportedFormatError(
            f"content of {filename or 'the file'} ({len(data)} bytes) is not a supported mesh format "
            f"({', '.join(FORMATS)}); format is detected from the bytes, not the file name"
        )
    ext = _extension(filename)
    return ext if ext in found else found[0]


# --------------------------------------------------------------------------- limits pre-checks

def _too_many(n: int, limits: Limits, how: str) -> None:
    if n > limits.max_triangles:
        raise MeshTooLargeError(
            f"{how} {n:,} triangles, over the limit of {limits.max_triangles:,} triangles"
        )


_PLY_SIZES = {
    "char": 1, "uchar": 1, "int8": 1, "uint8": 1, "short": 2, "ushort": 2, "int16": 2, "uint16": 2,
    "int": 4, "uint": 4, "int32": 4, "uint32": 4, "float": 4, "float32": 4, "double": 8, "float64": 8,
}


def _precheck_ply(data: bytes, limits: Limits) -> None:
    end = data.find(b"end_header")
    if end < 0 or end > 1 << 20:
        raise CorruptMeshError("PLY header has no end_header line within the first 1 MiB")
    header = data[:end].decode("ascii", errors="replace").splitlines()
    fmt = None
    elements: list[tuple[str, int, list[list[str]]]] = []
    for line in header:
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "format" and len(parts) > 1:
            fmt = parts[1]
        elif parts[0] == "element" and len(parts) == 3:
            try:
                count = int(parts[2])
            except ValueError as exc:
                raise CorruptMeshError(f"PLY element count is not an integer: {line.strip()!r}") from exc
            if count < 0:
                raise CorruptMeshError(f"PLY element count is negative: {line.strip()!r}")
            elements.append((parts[1], count, []))
        elif parts[0] == "property" and elements:
            elements[-1][2].append(parts[1:])
    if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
        raise CorruptMeshError(f"PLY format line missing or unknown: {fmt!r}")
    counts = {name: count for name, count, _ in elements}
    _too_many(counts.get("face", 0), limits, "PLY header declares")
    body = len(data) - end
    if fmt == "ascii":
        # Every element record is at least one line.
        lines = data.count(b"\n", end)
        total = sum(c for _, c, _ in elements)
        if total > lines + 1:
            raise CorruptMeshError(f"PLY header declares {total:,} records but the body has only {lines:,} lines (truncated?)")
        return
    # Binary: each record needs at least its fixed-size properties (a list at least its count byte).
    need = 0
    for _, count, props in elements:
        row = 0
        for p in props:
            if p and p[0] == "list" and len(p) >= 3:
                row += _PLY_SIZES.get(p[1], 1)
            elif p:
                row += _PLY_SIZES.get(p[0], 1)
        need += count * row
    if need > body:
        raise CorruptMeshError(f"PLY header declares at least {need:,} bytes of data but the file has {body:,} (truncated?)")


def _gltf_triangles(doc: dict) -> int:
    """Triangles a glTF document would produce: sum over mesh instances of primitives' counts."""
    accessors = doc.get("accessors") or []
    meshes = doc.get("meshes") or []

    def accessor_count(i) -> int:
        if isinstance(i, int) and 0 <= i < len(accessors) and isinstance(accessors[i], dict):
            c = accessors[i].get("count", 0)
            return c if isinstance(c, int) and c > 0 else 0
        return 0

    per_mesh = []
    for m in meshes:
        tris = 0
        for p in (m.get("primitives") or []) if isinstance(m, dict) else []:
            if not isinstance(p, dict) or p.get("mode", 4) not in (4, 5, 6):
                continue
            if "indices" in p:
                n = accessor_count(p["indices"])
            else:
                n = accessor_count((p.get("attributes") or {}).get("POSITION"))
            tris += n // 3 if p.get("mode", 4) == 4 else max(n - 2, 0)
        per_mesh.append(tris)
    nodes = doc.get("nodes") or []
    instanced = [n.get("mesh") for n in nodes if isinstance(n, dict) and isinstance(n.get("mesh"), int)]
    if instanced:
        return sum(per_mesh[i] for i in instanced if 0 <= i < len(per_mesh))
    return sum(per_mesh)


def _glb_json(data: bytes) -> dict:
    if len(data) < 20:
        raise CorruptMeshError(f"GLB is {len(data)} bytes, shorter than its 12-byte header and first chunk header")
    _, version, total = struct.unpack_from("<4sII", data, 0)
    if version != 2:
        raise CorruptMeshError(f"GLB version {version} is not supported (only glTF 2.0)")
    if total > len(data):
        raise CorruptMeshError(f"GLB header declares {total:,} bytes but the file has {len(data):,} (truncated?)")
    chunk_len, chunk_type = struct.unpack_from("<I4s", data, 12)
    if chunk_type != b"JSON" or 20 + chunk_len > len(data):
        raise CorruptMeshError("GLB first chunk is not a complete JSON chunk")
    return _parse_json(data[20 : 20 + chunk_len])


def _parse_json(raw: bytes) -> dict:
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise CorruptMeshError(f"glTF JSON is malformed: {exc}") from exc
    if not isinstance(doc, dict):
        raise CorruptMeshError("glTF JSON is not an object")
    return doc


_3MF_TRIANGLE = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?triangle[\s/>]")
_3MF_UNIT = re.compile(rb"<(?:[A-Za-z_][\w.-]*:)?model\b[^>]*?\bunit\s*=\s*[\"']([A-Za-z]+)[\"']")


def _precheck_3mf(data: bytes, limits: Limits) -> str | None:
    """Bound the zip's inflated size, count triangles, and read the unit attribute."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            infos = zf.infolist()
            inflated = sum(i.file_size for i in infos)
            if inflated > limits.max_uncompressed_bytes:
                raise MeshTooLargeError(
                    f"3MF archive inflates to {inflated:,} bytes, over the limit of {limits.max_uncompressed_bytes:,} bytes"
                )
            models = [i for i in infos if i.filename.lower().startswith("3d/") and i.filename.lower().endswith(".model")]
            triangles = 0
            unit = None
            for info in models:
                with zf.open(info) as fh:
                    xml = fh.read(limits.max_uncompressed_bytes + 1)
                triangles += len(_3MF_TRIANGLE.findall(xml))
                if unit is None:
                    m = _3MF_UNIT.search(xml[:4096])
                    unit = m.group(1).decode().lower() if m else None
                _too_many(triangles, limits, "3MF model declares")
    except ProcessingError:
        raise
    except Exception as exc:  # noqa: BLE001 - zip/CRC/IO errors: the archive is broken
        raise CorruptMeshError(f"3MF archive is unreadable: {exc}") from exc
    return unit or "millimeter"


# --------------------------------------------------------------------------- parsing

def _parse_binary_stl(data: bytes, count: int) -> tuple[np.ndarray, np.ndarray]:
    records = np.frombuffer(data, dtype=_BINARY_STL_RECORD, count=count, offset=84)
    vertices = records["corners"].reshape(-1, 3).astype(np.float64)
    faces = np.arange(3 * count, dtype=np.int64).reshape(-1, 3)
    return vertices, faces


def _parse_with_trimesh(data: bytes, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    file_type = "stl" if fmt == "stl" else fmt
    loaded = trimesh.load(io.BytesIO(data), file_type=file_type, process=False, force="mesh")
    if isinstance(loaded, trimesh.Scene):  # defensive: force="mesh" should already concatenate
        loaded = loaded.to_mesh()
    if not isinstance(loaded, trimesh.Trimesh):
        raise InvalidGeometryError(f"{fmt.upper()} file holds no triangle mesh (found {type(loaded).__name__})")
    return np.asarray(loaded.vertices, dtype=np.float64), np.asarray(loaded.faces, dtype=np.int64)


def _units(fmt: str, unit_3mf: str | None) -> tuple[str | None, str]:
    if fmt == "3mf":
        return _3MF_UNITS.get(unit_3mf or "millimeter", unit_3mf), "file"
    if fmt in ("glb", "gltf"):
        return "m", "spec"  # glTF 2.0 specifies metres
    if fmt == "stl":
        return "mm", "convention"  # STL has no units; 3D printing tools assume millimetres
    return None, "unknown"  # OBJ and PLY carry no units


# Units a caller may declare for a file's coordinates (`units=`), overriding the format's own.
UNIT_OVERRIDES = ("mm", "cm", "m", "in")


def with_units(loaded: LoadedMesh, units: str | None) -> LoadedMesh:
    """The same mesh with its coordinates declared to be in `units` (source "override").

    Why: glTF says metres, but exporters of 3D-printing models often write millimetre numbers
    into glTF, so a 360 mm vase reads as 360 m; STL, OBJ and PLY carry no units at all. The
    owner of the file knows better than any convention. None keeps what the file said."""
    if units is None:
        return loaded
    if units not in UNIT_OVERRIDES:
        raise ValueError(f"units {units!r}: expected one of {', '.join(UNIT_OVERRIDES)}")
    return replace(loaded, units=units, units_source="override")


def load_mesh(data: bytes, filename: str | None = None, limits: Limits = Limits(), units: str | None = None) -> LoadedMesh:
    """Parse `data` into a welded `LoadedMesh`, or raise a `ProcessingError` subclass.

    `units` (mm, cm, m, in) overrides the units the format implies (see `with_units`).

    `filename` is used only to break format ties and to word errors; a known mesh extension on
    content that matches no format makes the error `CorruptMeshError` (the user meant a mesh)
    instead of `UnsupportedFormatError`.
    """
    if isinstance(data, (bytearray, memoryview)):
        data = bytes(data)
    if not isinstance(data, bytes):
        raise TypeError(f"load_mesh expects bytes, got {type(data).__name__}")
    size = len(data)
    if size == 0:
        raise EmptyFileError(f"{filename or 'file'} is empty (0 bytes)")
    if size > limits.max_bytes:
        raise MeshTooLargeError(f"{filename or 'file'} is {size:,} bytes, over the limit of {limits.max_bytes:,} bytes")
    if size <= 4096 and not data.strip():
        raise EmptyFileError(f"{filename or 'file'} contains only whitespace ({size} bytes)")

    try:
        fmt = detect_format(data, filename)
    except UnsupportedFormatError as exc:
        ext = _extension(filename)
        if ext is None:
            raise
        raise CorruptMeshError(_explain_undetected(data, ext, filename)) from exc

    try:
        with np.errstate(all="ignore"):
            vertices, faces, unit_3mf = _load_arrays(data, fmt, limits)
    except ProcessingError:
        raise
    except MemoryError as exc:
        raise MeshTooLargeError(f"{fmt.upper()} file needs more memory than available to parse ({size:,} bytes)") from exc
    except Exception as exc:  # noqa: BLE001 - the parser contract: typed errors only
        raise CorruptMeshError(f"{fmt.upper()} content could not be parsed: {type(exc).__name__}: {exc}"[:500]) from exc

    try:
        mesh = _checked_mesh(vertices, faces, fmt, limits)
    except ProcessingError:
        raise
    except MemoryError as exc:
        raise MeshTooLargeError(f"{fmt.upper()} mesh needs more memory than available ({size:,} bytes)") from exc
    except Exception as exc:  # noqa: BLE001 - odd shapes from a malformed file: still a typed error
        raise CorruptMeshError(f"{fmt.upper()} geometry is malformed: {type(exc).__name__}: {exc}"[:500]) from exc
    file_units, units_source = _units(fmt, unit_3mf)
    return with_units(LoadedMesh(
        mesh=mesh,
        format=fmt,
        units=file_units,
        source_bytes=size,
        sha256=hashlib.sha256(data).hexdigest(),
        units_source=units_source,
    ), units)


def _checked_mesh(vertices: np.ndarray, faces: np.ndarray, fmt: str, limits: Limits) -> trimesh.Trimesh:
    """Validate parsed arrays (shapes, indices, finiteness, area), weld, build the Trimesh."""
    vertices = np.asarray(vertices)
    faces = np.asarray(faces)
    if faces.size == 0:
        raise InvalidGeometryError(f"{fmt.upper()} file contains no faces ({len(vertices):,} vertices, 0 triangles)")
    if vertices.ndim != 2 or vertices.shape[1] != 3:
        raise CorruptMeshError(f"{fmt.upper()} vertices have shape {vertices.shape}, expected (n, 3)")
    if faces.ndim != 2 or faces.shape[1] != 3:
        raise CorruptMeshError(f"{fmt.upper()} faces have shape {faces.shape}, expected (n, 3) triangles")
    _too_many(len(faces), limits, f"{fmt.upper()} file has")
    faces = faces.astype(np.int64, copy=False)
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise CorruptMeshError(
            f"{fmt.upper()} faces reference vertex indices outside 0..{len(vertices) - 1} "
            f"(min {int(faces.min())}, max {int(faces.max())})"
        )
    with np.errstate(all="ignore"):
        vertices, faces = merge_vertices(vertices.astype(np.float64, copy=False), faces)
    bad = ~np.isfinite(vertices).all(axis=1)
    if bad.any():
        raise InvalidGeometryError(
            f"{int(bad.sum()):,} of {len(vertices):,} vertices have NaN or infinite coordinates"
        )
    _require_area(vertices, faces, fmt)
    return trimesh.Trimesh(vertices=vertices, faces=faces, process=False, validate=False)


def _require_area(vertices: np.ndarray, faces: np.ndarray, fmt: str) -> None:
    """Reject a mesh whose every face has zero area (nothing to measure, print or render).

    Meshes with *some* degenerate faces are normal and are counted by metadata; this only
    catches the all-degenerate case, checking a small chunk first so real meshes exit at once.
    """
    start = 0
    chunk = 4096
    while start < len(faces):
        tri = np.take(vertices, faces[start : start + chunk], axis=0)
        cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
        if np.any(np.abs(cross) > 0):
            return
        start += chunk
        chunk *= 8
    raise InvalidGeometryError(f"all {len(faces):,} faces of the {fmt.upper()} mesh have zero area (no surface)")


def _load_arrays(data: bytes, fmt: str, limits: Limits) -> tuple[np.ndarray, np.ndarray, str | None]:
    """Pre-check limits for `fmt`, then parse. Returns (vertices, faces, 3MF unit or None)."""
    if fmt == "stl":
        count = _binary_stl_count(data)
        if count is not None and not (_looks_text(data[:4096]) and data.lstrip()[:5].lower() == b"solid"):
            _too_many(count, limits, "binary STL header declares")
            return (*_parse_binary_stl(data, count), None)
        _too_many(data.count(b"endfacet"), limits, "ASCII STL has")
        return (*_parse_with_trimesh(data, "stl"), None)
    if fmt == "obj":
        _too_many(len(_OBJ_FACE.findall(data)), limits, "OBJ has at least")
        return (*_parse_with_trimesh(data, "obj"), None)
    if fmt == "ply":
        _precheck_ply(data, limits)
        return (*_parse_with_trimesh(data, "ply"), None)
    if fmt == "glb":
        _too_many(_gltf_triangles(_glb_json(data)), limits, "GLB accessors declare")
        return (*_parse_with_trimesh(data, "glb"), None)
    if fmt == "gltf":
        doc = _parse_json(data)
        for buf in doc.get("buffers") or []:
            uri = buf.get("uri", "") if isinstance(buf, dict) else ""
            if uri and not uri.startswith("data:"):
                raise CorruptMeshError(
                    f"glTF references an external buffer {uri[:80]!r}; upload a .glb or a .gltf with embedded buffers"
                )
        _too_many(_gltf_triangles(doc), limits, "glTF accessors declare")
        return (*_parse_with_trimesh(data, "gltf"), None)
    if fmt == "3mf":
        unit = _precheck_3mf(data, limits)
        return (*_parse_with_trimesh(data, "3mf"), unit)
    raise UnsupportedFormatError(f"format {fmt!r} is not supported")  # pragma: no cover


def _explain_undetected(data: bytes, ext: str, filename: str | None) -> str:
    name = filename or f"file.{ext}"
    if ext == "stl" and len(data) >= 84:
        (count,) = struct.unpack_from("<I", data, 80)
        expected = 84 + 50 * count
        kind = "truncated" if len(data) < expected else "has trailing bytes"
        return (
            f"{name} is not a valid STL: not ASCII STL, and as binary STL its header declares {count:,} "
            f"triangles = {expected:,} bytes but the file has {len(data):,} ({kind} or not an STL)"
        )
    if ext == "stl":
        return f"{name} is not a valid STL: {len(data)} bytes is shorter than the 84-byte binary STL header and not ASCII STL"
    return f"{name} has a .{ext} name but its content is not {ext.upper()} (nor any other supported mesh format)"


__all__ = ["FORMATS", "Limits", "LoadedMesh", "detect_format", "load_mesh"]
