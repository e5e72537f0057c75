"""PNG thumbnails for a storefront: outlined, softly shadowed, framed with margins; headless.

What a picture is: an orthographic view of the +Z-up model, rendered at 2x and box-downsampled
(anti-aliasing), with
* Gouraud shading from per-corner normals: faces within SMOOTH_ANGLE of their neighbours are
  smoothed (a sphere looks round), sharper corners stay flat (a cube keeps its faces);
* outlines on silhouettes, creases (neighbouring faces more than CREASE_ANGLE apart) and depth
  jumps, found in image space on the face-id buffer, so a cube seen head-on shows its square;
* a soft contact shadow on the ground plane under the model: the model's underside seen from
  below, strongest where it touches the ground, blurred, projected into each view;
* the model and its shadow framed to fill FILL of the image (8 % margins), centred.

The drawing itself is compiled code (processors/raster.py, numba; ADR 0008 compares it with
Mesa's software OpenGL); this module sets up cameras, lights and framing, and encodes the PNG
(processors/png.py). Output is deterministic: the same input gives the same bytes.
"""
from __future__ import annotations

import math
import threading
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter

from processors import png, raster
from processors.errors import InvalidGeometryError

VIEWS: dict[str, tuple[float, float]] = {
    # name: (azimuth degrees around +Z from the front, elevation degrees above the XY plane)
    "front": (0.0, 0.0),
    "isometric": (45.0, math.degrees(math.atan(1 / math.sqrt(2)))),  # 35.26 deg: true isometric
    "top": (0.0, 90.0),
}
SIZES = (256, 512)
TURNTABLE_ELEVATION = 20.0
BACKGROUND = (255, 255, 255)
BASE_COLOR = (86, 140, 196)  # a neutral "print plastic" blue
SUPERSAMPLE = raster.SUPERSAMPLE  # rendered at 2x, box-downsampled
FILL = 0.84  # model + shadow span 84 % of the image: 8 % margins
SMOOTH_ANGLE = 35.0  # degrees: neighbouring faces closer than this are shaded smoothly
CREASE_ANGLE = 35.0  # degrees: neighbouring faces farther apart than this get an outline
DEPTH_JUMP = 1.5  # supersampled pixels of unexpected depth change that make an outline
EDGE_DARKNESS = 0.28  # outline colour = model colour x this
AMBIENT, KEY, HEAD = 0.36, 0.62, 0.30  # lighting: ambient + key light (upper left) + head light
KEY_LIGHT = (-0.35, 0.55, 1.0)  # toward the key light in (right, up, toward-viewer) camera axes
DEPTH_CUE = 0.15  # the far side of the model is up to 15 % darker
SHADOW_OPACITY = 0.32  # darkest shadow, where the model touches the ground
SHADOW_MIN_ELEVATION = 10.0  # a side view sees the ground as if from 10 degrees up
_SHADOW_GRID = 64  # cells across the contact-shadow map
_SHADOW_BLUR = 0.05  # blur sigma, as a fraction of the model's footprint
_SHADOW_HEIGHT = 0.08  # contact fades over this fraction of the model's size above the ground
_SHADOW_FRAMED = 0.1  # shadow at least this strong (~8 grey levels on white) is kept in frame
_SHADOW_DRAWN = 0.01  # shadow weaker than this (under one grey level) is not drawn at all


@dataclass(frozen=True)
class Thumbnail:
    name: str  # e.g. "isometric_256.png", "turntable_03_256.png"
    view: str
    size: int
    azimuth: float
    elevation: float
    png: bytes


@dataclass(frozen=True)
class _Shadow:
    grid: np.ndarray  # (ny, nx) contact strength 0..1, rows along +Y
    origin: tuple[float, float]  # world x, y of the grid's corner
    cell: float  # world units per cell
    framed: np.ndarray  # (N, 2) world x, y of the corners of cells where the shadow is visible
    drawn: np.ndarray  # (4, 2) world x, y of the box outside which it is not drawn


@dataclass(frozen=True)
class _Prepared:
    """Everything about a mesh that every view shares."""

    vertices: np.ndarray
    faces: np.ndarray
    center: np.ndarray  # bounding-box centre
    zmin: float
    zmax: float
    face_normals: np.ndarray
    corner_normals: np.ndarray  # (F, 3, 3), or (1, 3, 3) unused when the mesh is too dense to need it
    shadow: _Shadow | None
    cull: float  # +1 / -1: closed and wound outward / inward, back faces skipped; 0: draw both sides
    unit: float  # world units per unit of `vertices` (see _prepare)


@dataclass(frozen=True)
class _Frame:
    """Which part of the view plane the image shows: centre (a, b) and half-extent, world units."""

    a: float
    b: float
    half: float


def _arrays(mesh) -> tuple[np.ndarray, np.ndarray]:
    """Accept a LoadedMesh, a trimesh.Trimesh or a (vertices, faces) pair."""
    mesh = getattr(mesh, "mesh", mesh)
    if isinstance(mesh, tuple):
        vertices, faces = mesh
    else:
        vertices, faces = mesh.vertices, mesh.faces
    vertices = np.ascontiguousarray(vertices, dtype=np.float64)
    faces = np.ascontiguousarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(faces) == 0 or len(vertices) == 0:
        raise InvalidGeometryError("cannot render a mesh without faces")
    if not np.isfinite(vertices).all():
        raise InvalidGeometryError("cannot render a mesh with NaN or infinite vertices")
    if faces.min() < 0 or faces.max() >= len(vertices):
        raise InvalidGeometryError("faces refer to vertices that do not exist")
    return vertices, faces


def camera_basis(azimuth: float, elevation: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(right, up, forward) unit vectors for a camera orbiting the +Z-up model.

    Azimuth 0 looks from -Y toward +Y (the front); positive azimuth orbits counter-clockwise
    seen from above; elevation 90 looks straight down with +Y up on screen.
    """
    az, el = math.radians(azimuth), math.radians(elevation)
    fx, fy, fz = -math.sin(az) * math.cos(el), math.cos(az) * math.cos(el), -math.sin(el)  # toward the model
    # right = forward x +Z, up = right x forward, written out: np.cross on 3-vectors cost more
    # than a 12-triangle model's whole raster pass (17 bases per model)
    rx, ry = fy, -fx
    norm = math.hypot(rx, ry)
    if norm < 1e-9:  # looking straight up/down
        rx, ry, norm = math.cos(az), math.sin(az), 1.0
    rx, ry = rx / norm, ry / norm
    ux, uy, uz = ry * fz, -rx * fz, rx * fy - ry * fx
    un = math.sqrt(ux * ux + uy * uy + uz * uz)
    return np.array([rx, ry, 0.0]), np.array([ux / un, uy / un, uz / un]), np.array([fx, fy, fz])


def prepare(mesh) -> "_Prepared":
    """A mesh made ready for rendering (arrays, normals, contact shadow), reusable across calls:
    the stage renders its views and its turntable from one preparation. A prepared mesh is
    returned as it is."""
    return mesh if isinstance(mesh, _Prepared) else _prepare(mesh)


def _prepare(mesh) -> _Prepared:
    """Shared per-mesh work. Coordinates are first mapped into [-1, 1] around the bounding
    box's centre (`unit` world units per unit): pictures do not depend on scale, and a file
    with coordinates near 1e300 or 1e-300 must not overflow anywhere downstream."""
    vertices, faces = _arrays(mesh)
    lo = np.array([vertices[:, i].min() for i in range(3)])  # per column: axis=0 is slow
    hi = np.array([vertices[:, i].max() for i in range(3)])
    mid = lo / 2.0 + hi / 2.0  # halves first: hi + lo may overflow
    unit = float((hi / 2.0 - lo / 2.0).max())
    if not (math.isfinite(unit) and unit > 0.0):
        unit = 1.0
    vertices = (vertices - mid) / unit  # |vertices - mid| <= unit: neither step overflows
    lo = np.array([vertices[:, i].min() for i in range(3)])
    hi = np.array([vertices[:, i].max() for i in range(3)])
    fn, area2 = raster.face_normals(vertices, faces)
    if len(faces) <= _SMOOTH_MAX_FACES:
        cn = raster.corner_normals(faces, fn, area2, len(vertices), math.cos(math.radians(SMOOTH_ANGLE)))
    else:  # faces smaller than a pixel look smooth as they are; skip 36 bytes a face
        cn = np.zeros((1, 3, 3), np.float32)
    return _Prepared(vertices, faces, (lo + hi) / 2.0, float(lo[2]), float(hi[2]), fn, cn,
                     _contact_shadow(vertices, faces, lo, hi), _closed_winding(vertices, faces), unit)


_CULL_CHECK_MAX_FACES = 300_000
_SMOOTH_MAX_FACES = 1_000_000


def _closed_winding(vertices: np.ndarray, faces: np.ndarray) -> float:
    """+1 when every edge is used exactly once in each direction (closed, consistently wound)
    and the enclosed volume is positive (normals point out), -1 when it is negative, else 0.
    Back faces of such a mesh are never visible, so the rasterizer may skip them. Bigger meshes
    are not checked (0): two sorts of 3 x faces keys would cost more than the fill they save."""
    if len(faces) > _CULL_CHECK_MAX_FACES:
        return 0.0
    n = np.int64(len(vertices))
    a, b = faces.reshape(-1), faces[:, [1, 2, 0]].reshape(-1)
    forward, backward = np.sort(a * n + b), np.sort(b * n + a)
    if not np.array_equal(forward, backward) or (forward[1:] == forward[:-1]).any():
        return 0.0
    v0, v1, v2 = (vertices[faces[:, k]] for k in range(3))
    volume = float(np.einsum("ij,ij->", v0, np.cross(v1, v2)))
    return 0.0 if volume == 0.0 else math.copysign(1.0, volume)


def _contact_shadow(vertices, faces, lo, hi) -> _Shadow | None:
    """The model's underside seen from below, as contact strength on the ground plane: 1 where
    it touches the ground, fading with height above it, then blurred (a soft shadow)."""
    footprint = max(hi[0] - lo[0], hi[1] - lo[1])
    size = max(footprint, hi[2] - lo[2])
    if not size > 0 or not footprint > 0:
        return None
    sigma = _SHADOW_BLUR * footprint
    margin = 3.0 * sigma
    cell = (footprint + 2 * margin) / _SHADOW_GRID
    ox, oy = lo[0] - margin, lo[1] - margin
    nx = min(int(math.ceil((hi[0] - lo[0] + 2 * margin) / cell)), _SHADOW_GRID)
    ny = min(int(math.ceil((hi[1] - lo[1] + 2 * margin) / cell)), _SHADOW_GRID)
    p = np.empty_like(vertices)
    p[:, 0] = (vertices[:, 0] - ox) / cell
    p[:, 1] = (vertices[:, 1] - oy) / cell
    p[:, 2] = vertices[:, 2]  # nearest = lowest: the underside
    depth, fid, scratch = np.empty(nx * ny, np.float32), np.empty(nx * ny, np.int32), np.empty(nx * ny, np.float32)
    grads = np.empty(len(faces)), np.empty(len(faces))
    window = np.zeros(4, np.int64)
    raster.rasterize(p, faces, np.zeros((len(faces), 3), np.float32), nx, ny, depth, fid, scratch, *grads, 1, window,
                     0.0)
    x0, y0, x1, y1 = window
    inside = np.zeros((ny, nx), bool)
    inside[y0:y1, x0:x1] = True
    height = np.full(nx * ny, np.inf)
    drawn = inside.reshape(-1) & (fid >= 0)
    height[drawn] = depth[drawn] - lo[2]
    height = height.reshape(ny, nx)
    contact = gaussian_filter(np.exp(-height / (_SHADOW_HEIGHT * size)), sigma / cell, mode="constant")
    peak = float(contact.max())
    if not (peak > 0 and math.isfinite(peak)):
        return None
    contact /= peak
    rows, cols = np.nonzero(contact >= _SHADOW_FRAMED)
    if rows.size == 0:
        return None
    framed = np.concatenate([np.stack([ox + (cols + dx) * cell, oy + (rows + dy) * cell], axis=1)
                             for dx in (0, 1) for dy in (0, 1)])
    rows, cols = np.nonzero(contact >= _SHADOW_DRAWN)
    x0, x1 = ox + cols.min() * cell, ox + (cols.max() + 1) * cell
    y0, y1 = oy + rows.min() * cell, oy + (rows.max() + 1) * cell
    drawn = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
    return _Shadow(np.ascontiguousarray(contact), (ox, oy), cell, framed, drawn)


def _ground_axes(azimuth: float, elevation: float) -> tuple[np.ndarray, np.ndarray, float]:
    """Horizontal right and forward unit vectors, and the sine of the elevation the ground is
    seen from (at least SHADOW_MIN_ELEVATION: a side view still sees a contact shadow)."""
    az = math.radians(azimuth)
    right = np.array([math.cos(az), math.sin(az)])
    forward = np.array([-math.sin(az), math.cos(az)])
    return right, forward, math.sin(math.radians(max(elevation, SHADOW_MIN_ELEVATION)))


def _shadow_extent(prep: _Prepared, azimuth: float, elevation: float, up: np.ndarray, points=None):
    """(a, b) view-plane coordinates of ground points (default: where the shadow is visible)."""
    if prep.shadow is None:
        return None
    rh, fh, sin_es = _ground_axes(azimuth, elevation)
    rel = (prep.shadow.framed if points is None else points) - prep.center[:2]
    b0 = (prep.zmin - prep.center[2]) * up[2]
    return rel @ rh, b0 - (rel @ fh) * sin_es


def _fit_view(prep: _Prepared, azimuth: float, elevation: float) -> _Frame:
    """Frame a static view: the projected model and its shadow, centred, at FILL."""
    right, up, forward = camera_basis(azimuth, elevation)
    ab = raster.project(prep.vertices, prep.center, right, up, forward, 0.0, 0.0, 1.0)
    a_lo, a_hi = float(ab[:, 0].min()), float(ab[:, 0].max())
    b_lo, b_hi = -float(ab[:, 1].max()), -float(ab[:, 1].min())
    shadow = _shadow_extent(prep, azimuth, elevation, up)
    if shadow is not None:
        a_lo, a_hi = min(a_lo, shadow[0].min()), max(a_hi, shadow[0].max())
        b_lo, b_hi = min(b_lo, shadow[1].min()), max(b_hi, shadow[1].max())
    return _Frame((a_lo + a_hi) / 2, (b_lo + b_hi) / 2, max(a_hi - a_lo, b_hi - b_lo, 1e-12) / 2)


def _fit_turntable(prep: _Prepared, elevation: float) -> _Frame:
    """One frame for every azimuth: bounds of the model's vertical cylinder around its centre
    (and of its shadow's), so the scale and the centre never change while it turns."""
    rel = prep.vertices[:, :2] - prep.center[:2]
    radius = float(np.sqrt((rel * rel).sum(axis=1).max()))
    el = math.radians(elevation)
    b_lo = (prep.zmin - prep.center[2]) * math.cos(el) - radius * math.sin(el)
    b_hi = (prep.zmax - prep.center[2]) * math.cos(el) + radius * math.sin(el)
    a_half = radius
    if prep.shadow is not None:
        srel = prep.shadow.framed - prep.center[:2]
        s_radius = float(np.sqrt((srel * srel).sum(axis=1).max()))
        sin_es = _ground_axes(0.0, elevation)[2]
        b0 = (prep.zmin - prep.center[2]) * math.cos(el)
        a_half = max(a_half, s_radius)
        b_lo, b_hi = min(b_lo, b0 - s_radius * sin_es), max(b_hi, b0 + s_radius * sin_es)
    return _Frame(0.0, (b_lo + b_hi) / 2, max(a_half, (b_hi - b_lo) / 2, 1e-12))


_scratch = threading.local()


_SCRATCH_MAX = 1024 * 1024  # samples kept between calls: a 512 px view's; bigger ones are freed


def _buffers(n: int, faces: int):
    """Per-thread reusable sample buffers (reset by the kernels): no 12 MB of allocations per
    view. Buffers for images larger than 512 px, or meshes over 1M faces, are not kept."""
    buf = getattr(_scratch, "buf", None)
    if buf is None or buf[0].size < n:
        buf = (np.empty(n, np.float32), np.empty(n, np.int32), np.empty(n, np.float32))
        if n <= _SCRATCH_MAX:
            _scratch.buf = buf
    grads = getattr(_scratch, "grads", None)
    if grads is None or grads[0].size < faces:
        grads = (np.empty(faces, np.float32), np.empty(faces, np.float32), np.empty((faces, 3), np.float32))
        if faces <= 1_000_000:
            _scratch.grads = grads
    return buf, grads


def _draw(prep: _Prepared, azimuth: float, elevation: float, size: int, frame: _Frame,
          color, transparent: bool, background) -> np.ndarray:
    """One view as an (size, size, 3 or 4) uint8 array."""
    right, up, forward = camera_basis(azimuth, elevation)
    ss = SUPERSAMPLE
    width = size * ss
    scale_out = size * FILL / (2.0 * frame.half)  # output pixels per world unit
    scale = scale_out * ss
    p = raster.project(prep.vertices, prep.center, right, up, forward,
                       width / 2.0 - frame.a * scale, width / 2.0 + frame.b * scale, scale)
    to_camera = -forward
    key = KEY_LIGHT[0] * right + KEY_LIGHT[1] * up + KEY_LIGHT[2] * to_camera
    key /= np.linalg.norm(key)
    (depth, fid, shade), (gx, gy, facing) = _buffers(width * width, len(prep.faces))
    cshade = raster.corner_shades(prep.face_normals, prep.corner_normals, len(prep.corner_normals) == len(prep.faces),
                                  prep.faces, p, to_camera, key,
                                  AMBIENT, KEY, HEAD, DEPTH_CUE, facing)
    window = np.zeros(4, np.int64)
    raster.rasterize(p, prep.faces, cshade, width, width, depth, fid, shade, gx, gy, ss, window, prep.cull)
    raster.outline(fid, depth, width, facing, gx, gy, math.cos(math.radians(CREASE_ANGLE)), DEPTH_JUMP, shade, window)

    grid, ground, opacity, box = np.zeros((1, 1)), np.zeros(8), 0.0, np.zeros(4)
    if prep.shadow is not None:
        s = prep.shadow
        rh, fh, sin_es = _ground_axes(azimuth, elevation)
        b0 = (prep.zmin - prep.center[2]) * up[2]
        y_ground = size / 2.0 + (frame.b - b0) * scale_out  # output row of the ground under the centre
        k = 1.0 / (scale_out * s.cell)
        ground = np.array([
            size / 2.0, y_ground,
            rh[0] * k, -fh[0] * k / sin_es, (prep.center[0] - s.origin[0] + frame.a * rh[0]) / s.cell,
            rh[1] * k, -fh[1] * k / sin_es, (prep.center[1] - s.origin[1] + frame.a * rh[1]) / s.cell,
        ])
        grid, opacity = s.grid, SHADOW_OPACITY
        sa, sb = _shadow_extent(prep, azimuth, elevation, up, s.drawn)
        xs = size / 2.0 + (sa - frame.a) * scale_out
        ys = size / 2.0 - (sb - frame.b) * scale_out
        box = np.array([xs.min() - 1, ys.min() - 1, xs.max() + 1, ys.max() + 1])
    base = np.asarray(color, dtype=np.float64)
    out = np.empty((size, size, 4 if transparent else 3), np.uint8)
    raster.compose(shade, width, size, base, base * EDGE_DARKNESS, np.asarray(background, dtype=np.float64),
                   transparent, grid, opacity, ground, box, window, out)
    return out


def _check_style(color, background):
    for name, rgb in (("color", color), ("background", background)):
        if len(rgb) != 3 or not all(0 <= c <= 255 for c in rgb):
            raise ValueError(f"{name} must be (r, g, b) with components 0..255, got {rgb!r}")


def render_image(mesh, view: str = "isometric", size: int = 256, *, azimuth: float | None = None,
                 elevation: float | None = None, radius: float | None = None, color=BASE_COLOR,
                 transparent: bool = False, background=BACKGROUND) -> np.ndarray:
    """Like `render`, as a uint8 array (RGB, or RGBA when transparent) instead of PNG bytes."""
    if size <= 0 or size > 4096:
        raise ValueError(f"thumbnail size must be 1..4096 px, got {size}")
    _check_style(color, background)
    if azimuth is None or elevation is None:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; choose from {', '.join(VIEWS)}")
        azimuth, elevation = VIEWS[view]
    prep = prepare(mesh)
    frame = (_Frame(0.0, 0.0, max(radius / prep.unit, 1e-12)) if radius is not None
             else _fit_view(prep, azimuth, elevation))
    return _draw(prep, azimuth, elevation, size, frame, color, transparent, background)


def render(mesh, view: str = "isometric", size: int = 256, *, azimuth: float | None = None,
           elevation: float | None = None, radius: float | None = None, color=BASE_COLOR,
           transparent: bool = False, background=BACKGROUND) -> bytes:
    """Render one PNG. `view` names a standard view unless azimuth/elevation are given; `radius`
    fixes the scale (half the image spans radius / FILL world units) instead of fitting the view.
    `color` is the model's (r, g, b); `transparent` gives an RGBA PNG whose background is clear
    (the shadow stays, as translucent black)."""
    return png.encode(render_image(mesh, view, size, azimuth=azimuth, elevation=elevation, radius=radius,
                                   color=color, transparent=transparent, background=background))


def standard_views(mesh, views=tuple(VIEWS), sizes=SIZES, *, color=BASE_COLOR, transparent: bool = False,
                   background=BACKGROUND) -> list[Thumbnail]:
    """front / isometric / top at every requested size."""
    _check_style(color, background)
    prep = prepare(mesh)
    out = []
    for view in views:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; choose from {', '.join(VIEWS)}")
        az, el = VIEWS[view]
        frame = _fit_view(prep, az, el)
        for size in sizes:
            if size <= 0 or size > 4096:
                raise ValueError(f"thumbnail size must be 1..4096 px, got {size}")
            image = _draw(prep, az, el, size, frame, color, transparent, background)
            out.append(Thumbnail(f"{view}_{size}.png", view, size, az, el, png.encode(image)))
    return out


def turntable(mesh, frames: int = 8, size: int = 256, elevation: float = TURNTABLE_ELEVATION, *,
              color=BASE_COLOR, transparent: bool = False, background=BACKGROUND) -> list[Thumbnail]:
    """`frames` evenly spaced azimuths over 360 degrees, at one fixed scale (no zoom pumping)."""
    if frames < 1 or frames > 360:
        raise ValueError(f"turntable frames must be 1..360, got {frames}")
    if size <= 0 or size > 4096:
        raise ValueError(f"thumbnail size must be 1..4096 px, got {size}")
    _check_style(color, background)
    prep = prepare(mesh)
    frame = _fit_turntable(prep, elevation)
    out = []
    for i in range(frames):
        az = 360.0 * i / frames
        image = _draw(prep, az, elevation, size, frame, color, transparent, background)
        out.append(Thumbnail(f"turntable_{i:02d}_{size}.png", "turntable", size, az, elevation, png.encode(image)))
    return out


def _load_kernels() -> None:
    """Load every compiled kernel now (the first run on a machine compiles them, ~10 s, into
    numba's cache; later processes load them in ~0.2 s). Called at import: the worker's pool
    imports this module when it starts its processes (streams/pool.py `warm`), so no model's
    thumbnails pay for it."""
    tri = (np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 1.0]]), np.array([[0, 1, 2]]))
    for transparent in (False, True):
        png.encode(render_image(tri, "isometric", 8, transparent=transparent))
    png.encode(np.zeros((2, 2, 3), np.uint8))


_load_kernels()

__all__ = ["VIEWS", "SIZES", "BASE_COLOR", "Thumbnail", "camera_basis", "render", "render_image",
           "standard_views", "turntable"]
