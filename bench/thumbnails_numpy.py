"""BASELINE ONLY (bench/thumbnails.py): the pure-numpy renderer that processors/thumbnails.py replaced.

Kept verbatim so the bench can measure old vs new in one run; nothing in the product imports it.
Original docstring follows.

PNG thumbnails from a pure-numpy z-buffer rasterizer: no OpenGL, no display, deterministic.

Why a rasterizer of our own: workers run headless, and offscreen GL stacks (OSMesa, EGL) are
heavy, driver-dependent and not bit-reproducible. Flat-shaded orthographic thumbnails need
very little: project, test pixel centres against each triangle, keep the nearest.

How it stays fast at a million triangles: every triangle is rasterized against the pixel
centres inside its screen bounding box, all triangles at once. Triangles smaller than a pixel
(the vast majority in a dense mesh at 256 px) have zero or one candidate centre, so the work is
~ one pass over the faces plus a pass over covered pixels, never a Python loop. Depth testing is
an order-independent `np.minimum.at` over keys packing (quantized depth, face id), so the
picture does not depend on face order or thread scheduling, and ties resolve to the lowest face
id. Large triangles are processed in bounded chunks so memory stays flat.

Images are rendered at 2x and box-downsampled (anti-aliasing), lit by a key light from the
viewer's upper left plus a head-on fill light (two-sided Lambert, so inconsistent winding
still renders).
"""
from __future__ import annotations

import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

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
BASE_COLOR = np.array([86.0, 140.0, 196.0])  # a neutral "print plastic" blue
SUPERSAMPLE = 2
_CHUNK_SAMPLES = 2_000_000  # candidate pixel tests per chunk: bounds peak memory (~100 MB)


@dataclass(frozen=True)
class Thumbnail:
    name: str  # e.g. "isometric_256.png", "turntable_03_256.png"
    view: str
    size: int
    azimuth: float
    elevation: float
    png: bytes


def _arrays(mesh) -> tuple[np.ndarray, np.ndarray]:
    """Accept a LoadedMesh, a trimesh.Trimesh or a (vertices, faces) pair."""
    mesh = getattr(mesh, "mesh", mesh)
    if isinstance(mesh, tuple):
        vertices, faces = mesh
    else:
        vertices, faces = mesh.vertices, mesh.faces
    vertices = np.asarray(vertices, dtype=np.float64)
    faces = np.asarray(faces, dtype=np.int64).reshape(-1, 3)
    if len(faces) == 0 or len(vertices) == 0:
        raise InvalidGeometryError("cannot render a mesh without faces")
    if not np.isfinite(vertices).all():
        raise InvalidGeometryError("cannot render a mesh with NaN or infinite vertices")
    return vertices, faces


def _center(vertices: np.ndarray) -> np.ndarray:
    """Bounding-box centre (per-column reductions: axis=0 over (N,3) is slow in numpy)."""
    cols = [vertices[:, i] for i in range(3)]
    return np.array([(c.min() + c.max()) / 2.0 for c in cols])


def camera_basis(azimuth: float, elevation: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(right, up, forward) unit vectors for a camera orbiting the +Z-up model.

    Azimuth 0 looks from -Y toward +Y (the front); positive azimuth orbits counter-clockwise
    seen from above; elevation 90 looks straight down with +Y up on screen.
    """
    az, el = math.radians(azimuth), math.radians(elevation)
    to_camera = np.array([math.sin(az) * math.cos(el), -math.cos(az) * math.cos(el), math.sin(el)])
    forward = -to_camera
    right = np.cross(forward, [0.0, 0.0, 1.0])
    if np.linalg.norm(right) < 1e-9:  # looking straight up/down
        right = np.array([math.cos(az), math.sin(az), 0.0])
    right /= np.linalg.norm(right)
    up = np.cross(right, forward)
    return right, up / np.linalg.norm(up), forward


def _rasterize(
    vertices: np.ndarray,
    faces: np.ndarray,
    azimuth: float,
    elevation: float,
    width: int,
    radius: float | None,
    center: np.ndarray,
) -> np.ndarray:
    """Return an (H, W) uint8 shade image with 0 meaning background (shades are 1..255)."""
    right, up, forward = camera_basis(azimuth, elevation)
    cam = (vertices - center) @ np.stack([right, up, forward], axis=1)
    sx, sy, sz = cam[:, 0], cam[:, 1], cam[:, 2]
    if radius is None:  # fit the projected extents (static views)
        half = max(float(np.abs(sx).max()), float(np.abs(sy).max()), 1e-12)
    else:  # fixed scale (turntable frames must not zoom)
        half = max(radius, 1e-12)
    scale = (width * 0.46) / half
    # float32 for the all-faces pass (half the memory traffic); live faces go back to float64.
    x = (width / 2.0 + sx * scale).astype(np.float32)
    y = (width / 2.0 - sy * scale).astype(np.float32)
    zmin, zmax = float(sz.min()), float(sz.max())

    # Candidate pixel-centre ranges per face (pixel i has centre i + 0.5). Gather as (3, F) so
    # each corner is a contiguous row, and reduce with elementwise minimum/maximum: numpy's
    # axis=1 reductions over length-3 rows are ~10x slower.
    faces_t = faces.T
    fx = np.take(x, faces_t)
    fy = np.take(y, faces_t)
    xlo = np.ceil(np.minimum(np.minimum(fx[0], fx[1]), fx[2]) - 0.5)
    xhi = np.floor(np.maximum(np.maximum(fx[0], fx[1]), fx[2]) - 0.5)
    ylo = np.ceil(np.minimum(np.minimum(fy[0], fy[1]), fy[2]) - 0.5)
    yhi = np.floor(np.maximum(np.maximum(fy[0], fy[1]), fy[2]) - 0.5)
    live = np.flatnonzero((xhi >= xlo) & (yhi >= ylo) & (xhi >= 0) & (yhi >= 0) & (xlo < width) & (ylo < width))
    if live.size == 0:
        return np.zeros((width, width), np.uint8)
    x0 = np.maximum(xlo[live], 0).astype(np.int64)
    y0 = np.maximum(ylo[live], 0).astype(np.int64)
    nx = np.minimum(xhi[live], width - 1).astype(np.int64) - x0 + 1
    counts = nx * (np.minimum(yhi[live], width - 1).astype(np.int64) - y0 + 1)
    lf = faces_t[:, live]
    fx = np.take(x, lf).astype(np.float64)  # (3, L)
    fy = np.take(y, lf).astype(np.float64)
    fsz = np.take(sz, lf)  # camera depth per corner

    # Flat two-sided Lambert shade per live face, light from the viewer's upper left. Normals
    # come straight from screen-space corners (depth scaled to pixels): the screen map is a
    # scaled reflection of world space, so |n . l| is unchanged and no world gather is needed.
    zp = fsz * scale
    e1x, e1y, e1z = fx[1] - fx[0], fy[1] - fy[0], zp[1] - zp[0]
    e2x, e2y, e2z = fx[2] - fx[0], fy[2] - fy[0], zp[2] - zp[0]
    nxv = e1y * e2z - e1z * e2y
    nyv = e1z * e2x - e1x * e2z
    nzv = e1x * e2y - e1y * e2x
    norm = np.sqrt(nxv * nxv + nyv * nyv + nzv * nzv)
    norm[norm == 0] = 1.0
    light = np.array([-0.35, -0.55, -1.0])  # screen coords: +x right, +y down, +z away from viewer
    light /= np.linalg.norm(light)
    key_light = np.abs(nxv * light[0] + nyv * light[1] + nzv * light[2]) / norm
    head_light = np.abs(nzv) / norm  # fill light from the viewer: no face goes black
    shade_live = 0.22 + 0.5 * key_light + 0.28 * head_light
    fz = (fsz - zmin) / max(zmax - zmin, 1e-12)  # 0 nearest .. 1 farthest

    # z-buffer keys: quantized depth in the high bits, live-face index in the low bits.
    id_bits = max(int(live.size).bit_length(), 1)
    depth_bits = 63 - id_bits
    zbuf = np.full(width * width, np.iinfo(np.int64).max, dtype=np.int64)

    def draw(fid: np.ndarray, px: np.ndarray, py: np.ndarray) -> None:
        cx = px + 0.5
        cy = py + 0.5
        ax, bx, cxv = fx[0][fid] - cx, fx[1][fid] - cx, fx[2][fid] - cx
        ay, by, cyv = fy[0][fid] - cy, fy[1][fid] - cy, fy[2][fid] - cy
        w0 = bx * cyv - by * cxv
        w1 = cxv * ay - cyv * ax
        w2 = ax * by - ay * bx
        area = w0 + w1 + w2
        inside = (((w0 >= 0) & (w1 >= 0) & (w2 >= 0)) | ((w0 <= 0) & (w1 <= 0) & (w2 <= 0))) & (area != 0)
        if not inside.any():
            return
        fid, px, py = fid[inside], px[inside], py[inside]
        w0, w1, w2, area = w0[inside], w1[inside], w2[inside], area[inside]
        depth = (w0 * fz[0][fid] + w1 * fz[1][fid] + w2 * fz[2][fid]) / area
        dq = (np.clip(depth, 0.0, 1.0) * float((1 << depth_bits) - 1)).astype(np.int64)
        np.minimum.at(zbuf, py * width + px, (dq << id_bits) | fid)

    # Fast path: faces with exactly one candidate centre (most faces of a dense mesh).
    single = np.flatnonzero(counts == 1)
    draw(single, x0[single], y0[single])
    # General path: bigger faces, row by row. Each (face, row) pair gets the x-span where the row
    # crosses the triangle (widened by a pixel: the inside test in `draw` stays the only judge,
    # so the image is exactly what testing the whole bounding box gave), then its pixels. Work
    # follows the pixels a face covers, not its bounding box: a long thin sliver (the fan of a
    # cylinder's cap) no longer costs the area of the box around it.
    multi = np.flatnonzero(counts > 1)
    if multi.size:
        y1 = np.minimum(yhi[live], width - 1).astype(np.int64)
        for fid, row in _expanded(multi, (y1 - y0 + 1)[multi]):
            py = y0[fid] + row
            cy = py + 0.5
            xmin = np.full(fid.size, np.inf)
            xmax = np.full(fid.size, -np.inf)
            for i, j in ((0, 1), (1, 2), (2, 0)):
                xa, xb, ya, yb = fx[i][fid], fx[j][fid], fy[i][fid], fy[j][fid]
                crosses = (cy >= np.minimum(ya, yb)) & (cy <= np.maximum(ya, yb))
                dy = yb - ya
                flat = dy == 0
                xi = xa + (cy - ya) / np.where(flat, 1.0, dy) * (xb - xa)
                lo_x = np.where(flat, np.minimum(xa, xb), xi)
                hi_x = np.where(flat, np.maximum(xa, xb), xi)
                xmin = np.where(crosses, np.minimum(xmin, lo_x), xmin)
                xmax = np.where(crosses, np.maximum(xmax, hi_x), xmax)
            spanned = np.flatnonzero(np.isfinite(xmin))
            fid, py = fid[spanned], py[spanned]
            left = np.maximum(np.ceil(xmin[spanned] - 0.5) - 1, x0[fid]).astype(np.int64)
            right = np.minimum(np.floor(xmax[spanned] - 0.5) + 1, x0[fid] + nx[fid] - 1).astype(np.int64)
            width_here = right - left + 1
            keep = np.flatnonzero(width_here > 0)
            for pair, col in _expanded(keep, width_here[keep]):
                draw(fid[pair], left[pair] + col, py[pair])

    hit = np.flatnonzero(zbuf != np.iinfo(np.int64).max)
    out = np.zeros(width * width, np.uint8)
    key = zbuf[hit]
    winner = key & ((1 << id_bits) - 1)
    depth = (key >> id_bits).astype(np.float64) / ((1 << depth_bits) - 1)
    shade = shade_live[winner] * (1.0 - 0.22 * depth)  # slight depth cue
    out[hit] = np.clip(np.round(1 + shade * 254), 1, 255).astype(np.uint8)
    return out.reshape(width, width)


def _expanded(items: np.ndarray, counts: np.ndarray):
    """(item, k) for every k < counts[item], as flat arrays, in chunks of at most _CHUNK_SAMPLES
    elements (bounded memory whatever the mesh)."""
    ends = np.cumsum(counts)
    lo = 0
    while lo < items.size:
        base = ends[lo - 1] if lo else 0
        hi = max(int(np.searchsorted(ends, base + _CHUNK_SAMPLES, side="right")), lo + 1)
        c = counts[lo:hi]
        item = np.repeat(items[lo:hi], c)
        yield item, np.arange(item.size) - np.repeat(np.cumsum(c) - c, c)
        lo = hi


def _to_png(shade: np.ndarray, size: int, background=BACKGROUND) -> bytes:
    """Downsample by the supersampling factor (coverage-weighted), colourize, encode PNG."""
    f = shade.shape[0] // size
    covered = (shade > 0).astype(np.float64)
    lit = np.where(shade > 0, (shade.astype(np.float64) - 1) / 254.0, 0.0)
    if f > 1:
        covered = covered.reshape(size, f, size, f).mean(axis=(1, 3))
        lit = lit.reshape(size, f, size, f).mean(axis=(1, 3))
    color = np.clip(BASE_COLOR * 1.25, 0, 255)
    rgb = lit[..., None] * color + (1.0 - covered)[..., None] * np.asarray(background, dtype=np.float64)
    img = Image.fromarray(np.clip(np.round(rgb), 0, 255).astype(np.uint8), "RGB")
    buf = io.BytesIO()
    img.save(buf, format="PNG", optimize=False, compress_level=6)
    return buf.getvalue()


def render(mesh, view: str = "isometric", size: int = 256, *, azimuth: float | None = None,
           elevation: float | None = None, radius: float | None = None) -> bytes:
    """Render one PNG. `view` names a standard view unless azimuth/elevation are given."""
    if size <= 0 or size > 4096:
        raise ValueError(f"thumbnail size must be 1..4096 px, got {size}")
    vertices, faces = _arrays(mesh)
    if azimuth is None or elevation is None:
        if view not in VIEWS:
            raise ValueError(f"unknown view {view!r}; choose from {', '.join(VIEWS)}")
        azimuth, elevation = VIEWS[view]
    center = _center(vertices)
    shade = _rasterize(vertices, faces, azimuth, elevation, size * SUPERSAMPLE, radius, center)
    return _to_png(shade, size)


def standard_views(mesh, views=tuple(VIEWS), sizes=SIZES) -> list[Thumbnail]:
    """front / isometric / top at every requested size."""
    out = []
    for view in views:
        az, el = VIEWS[view]
        for size in sizes:
            out.append(Thumbnail(f"{view}_{size}.png", view, size, az, el, render(mesh, view, size)))
    return out


def turntable(mesh, frames: int = 8, size: int = 256, elevation: float = TURNTABLE_ELEVATION) -> list[Thumbnail]:
    """`frames` evenly spaced azimuths over 360 degrees, at one fixed scale (no zoom pumping)."""
    if frames < 1 or frames > 360:
        raise ValueError(f"turntable frames must be 1..360, got {frames}")
    vertices, faces = _arrays(mesh)
    center = _center(vertices)
    radius = float(np.sqrt(((vertices - center) ** 2).sum(axis=1).max()))
    out = []
    for i in range(frames):
        az = 360.0 * i / frames
        png = render((vertices, faces), size=size, azimuth=az, elevation=elevation, radius=radius)
        out.append(Thumbnail(f"turntable_{i:02d}_{size}.png", "turntable", size, az, elevation, png))
    return out


__all__ = ["VIEWS", "SIZES", "Thumbnail", "camera_basis", "render", "standard_views", "turntable"]
