"""Thumbnails: what a shopper sees (edges, framing, shading, shadow, colour) and valid PNGs.

Golden images (golden/*.png) are compared perceptually (SSIM >= 0.98, scikit-image), never
byte for byte. After an intended change of the look, regenerate them with
`MESHSTREAM_UPDATE_GOLDEN=1 .venv/bin/python -m pytest tests/unit/processors/test_thumbnails.py`,
look at them, and commit them with the change.
"""
from __future__ import annotations

import io
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import trimesh
from PIL import Image
from skimage.metrics import structural_similarity

from processors import png
from processors import thumbnails as T
from processors.errors import InvalidGeometryError
from processors.loading import load_mesh
from processors.samples import sample_meshes

from . import _meshes as M

GOLDEN = Path(__file__).with_name("golden")


def pixels(data: bytes, mode: str = "RGB") -> np.ndarray:
    img = Image.open(io.BytesIO(data))
    assert img.format == "PNG"
    return np.asarray(img.convert(mode))


def content(img: np.ndarray, tolerance: int = 8) -> np.ndarray:
    """Pixels visibly different from the white background (the faintest shadow tail is not)."""
    return (np.abs(img.astype(int) - 255).max(axis=2) > tolerance)


def bbox(mask: np.ndarray) -> tuple[int, int, int, int]:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return rows[0], rows[-1], cols[0], cols[-1]


def luminance(img: np.ndarray) -> np.ndarray:
    return img.astype(float).mean(axis=2)


def vase() -> trimesh.Trimesh:
    profile = np.array([[0, 0], [8, 0], [10, 5], [6, 15], [5, 22], [7, 28], [6.4, 28], [4.4, 22], [5.4, 15],
                        [9.4, 5], [7.4, 0.6], [0, 0.6]])
    return trimesh.creation.revolve(profile, sections=64)


@pytest.fixture(scope="module")
def sphere():
    return trimesh.creation.icosphere(subdivisions=3, radius=5.0)


# -- what a shopper sees --------------------------------------------------------------------------

def test_front_view_of_a_cube_shows_its_edges_around_a_flat_face():
    img = pixels(T.render(M.box(), "front", 256))
    blue = (img[..., 2].astype(int) - img[..., 0]) > 30  # the model, not the grey shadow
    top, bottom, left, right = bbox(blue)
    lum = luminance(img)
    inner = lum[top + 4 : bottom - 3, left + 4 : right - 3]
    assert inner.std() < 1.0, "the face seen head-on is one flat colour"
    face = float(np.median(inner))
    # every row crossing the square has a dark outline pixel at its left and right border, every
    # column one at its top and bottom border (within 2 px of the square's bounding box)
    rows = range(top + 3, bottom - 2)
    cols = range(left + 3, right - 2)
    assert all(lum[r, left - 1 : left + 3].min() < 0.75 * face for r in rows)
    assert all(lum[r, right - 2 : right + 2].min() < 0.75 * face for r in rows)
    assert all(lum[top - 1 : top + 3, c].min() < 0.75 * face for c in cols)
    assert all(lum[bottom - 2 : bottom + 2, c].min() < 0.75 * face for c in cols)


@pytest.mark.parametrize("size", T.SIZES)
def test_models_fill_80_to_92_percent_of_the_frame_centred(size):
    meshes = dict(sample_meshes(), vase=vase(), slab=M.box(extents=(40.0, 10.0, 2.0)))
    for name, mesh in meshes.items():
        for view in T.VIEWS:
            top, bottom, left, right = bbox(content(pixels(T.render(mesh, view, size))))
            fill = max(bottom - top + 1, right - left + 1) / size
            assert 0.80 <= fill <= 0.92, (name, view, fill)
            for margin in (top, left, size - 1 - bottom, size - 1 - right):
                assert margin >= 0.035 * size, (name, view, "margin", margin)
            assert abs((left + right) / 2 - size / 2) <= 0.02 * size + 1, (name, view, "off centre")


def test_smooth_mesh_is_smoothly_shaded_but_creases_stay_sharp():
    ball = trimesh.creation.icosphere(subdivisions=2, radius=5.0)  # facets ~ 15 degrees apart
    inner = luminance(pixels(T.render(ball, "front", 256)))[80:176, 80:176]
    assert np.abs(np.diff(inner, axis=0)).max() <= 4 and np.abs(np.diff(inner, axis=1)).max() <= 4
    cube = luminance(pixels(T.render(M.box(), "isometric", 256)))
    # the three visible faces of a cube stay three flat, distinct shades
    shades = {round(float(np.median(cube[y - 3 : y + 3, x - 3 : x + 3]))) for y, x in ((70, 128), (150, 85), (150, 171))}
    assert len(shades) == 3


def test_contact_shadow_under_the_model():
    img = pixels(T.render(M.box(), "front", 256))
    blue = (img[..., 2].astype(int) - img[..., 0]) > 30
    top, bottom, left, right = bbox(blue)
    below = img[bottom + 3 : bottom + 9, left + 10 : right - 10].astype(int)
    grey = below.max(axis=2) - below.min(axis=2) < 12
    assert grey.all() and (below.max(axis=2) < 235).all(), "a grey shadow right under the cube"
    assert (img[bottom + 40 :, :] == 255).all(), "fading to white further down"
    assert (img[: top - 5] == 255).all(), "and none above the model"


def test_colour_and_transparent_background():
    default = pixels(T.render(M.box(), "isometric", 256))
    assert np.array_equal(default, pixels(T.render(M.box(), "isometric", 256, color=T.BASE_COLOR)))
    red = pixels(T.render(M.box(), "isometric", 256, color=(200, 60, 40)))
    model = content(red)
    assert (red[..., 0][model & (red[..., 0] > 60)].astype(int) > red[..., 2][model & (red[..., 0] > 60)]).mean() > 0.95
    rgba = pixels(T.render(M.box(), "front", 256, transparent=True), "RGBA")
    assert rgba.shape == (256, 256, 4)
    alpha = rgba[..., 3]
    assert alpha[0, 0] == 0 and alpha[128, 128] == 255
    top, bottom, left, right = bbox(alpha == 255)
    shadow = alpha[bottom + 3 : bottom + 9, 128]
    assert ((shadow > 0) & (shadow < 255)).all(), "the shadow stays, translucent"
    opaque = pixels(T.render(M.box(), "front", 256))
    assert np.abs(rgba[128, 128, :3].astype(int) - opaque[128, 128]).max() <= 1


GOLDEN_CASES = {
    "cube_isometric": (lambda: M.box(), "isometric"),
    "torus_isometric": (lambda: sample_meshes()["torus.obj"], "isometric"),
    "sphere_front": (lambda: trimesh.creation.icosphere(subdivisions=3, radius=5.0), "front"),
    "cylinder_top": (lambda: sample_meshes()["cylinder.ply"], "top"),
    "vase_isometric": (vase, "isometric"),
}


@pytest.mark.parametrize("case", sorted(GOLDEN_CASES))
def test_matches_golden_image(case):
    make, view = GOLDEN_CASES[case]
    data = T.render(make(), view, 256)
    path = GOLDEN / f"{case}_256.png"
    if os.environ.get("MESHSTREAM_UPDATE_GOLDEN"):
        GOLDEN.mkdir(exist_ok=True)
        path.write_bytes(data)
    golden, now = pixels(path.read_bytes()), pixels(data)
    ssim = structural_similarity(golden, now, channel_axis=2, data_range=255)
    assert ssim >= 0.98, f"{case}: SSIM {ssim:.4f} against {path.name}"
    shift = np.abs(golden.astype(int) - now).mean()  # SSIM barely sees an overall colour shift
    assert shift <= 2.0, f"{case}: mean colour shift {shift:.2f} levels against {path.name}"


# -- contract with the callers ---------------------------------------------------------------------

def test_sizes_and_determinism(sphere):
    for size in (256, 512):
        data = T.render(sphere, "isometric", size)
        assert pixels(data).shape == (size, size, 3)
        assert data == T.render(sphere.copy(), "isometric", size)  # byte-identical


def test_accepts_loaded_mesh_and_arrays():
    loaded = load_mesh(M.stl(M.box()))
    a = T.render(loaded, "front", 256)
    b = T.render((loaded.mesh.vertices, loaded.mesh.faces), "front", 256)
    assert a == b


def test_views_differ_and_top_view_of_a_wide_box_is_wide():
    slab = M.box(extents=(40.0, 10.0, 2.0))
    front, top, iso = (T.render(slab, v, 256) for v in ("front", "top", "isometric"))
    assert len({front, top, iso}) == 3
    blue = lambda data: (pixels(data)[..., 2].astype(int) - pixels(data)[..., 0]) > 30  # noqa: E731
    t, b, l, r = bbox(blue(top))
    assert r - l > 3 * (b - t)  # 40 x 10 footprint
    t, b, l, r = bbox(blue(front))
    assert r - l > 10 * (b - t)  # 40 x 2 side


def test_top_view_sees_the_top():
    # a small cube on top of a big one: from the top both tops are lit alike (flat, facing up),
    # the nearer one a little brighter (depth cue)
    mesh = trimesh.util.concatenate([M.box((20, 20, 10), (0, 0, 5)), M.box((4, 4, 4), (0, 0, 12))])
    lum = luminance(pixels(T.render(mesh, "top", 256)))
    assert lum[40, 40] <= lum[128, 128] <= 1.2 * lum[40, 40]


def test_winding_does_not_matter(sphere):
    flipped = trimesh.Trimesh(sphere.vertices, sphere.faces[:, ::-1], process=False)
    a, b = pixels(T.render(sphere, "isometric", 256)), pixels(T.render(flipped, "isometric", 256))
    assert (np.abs(a.astype(int) - b).max(axis=2) <= 1).mean() > 0.999


def test_face_order_barely_matters(sphere):
    perm = np.random.default_rng(3).permutation(len(sphere.faces))
    shuffled = trimesh.Trimesh(sphere.vertices, sphere.faces[perm], process=False)
    a = pixels(T.render(sphere, "isometric", 256))
    b = pixels(T.render(shuffled, "isometric", 256))
    assert (a == b).all(axis=2).mean() > 0.995


def test_standard_views_names():
    thumbs = T.standard_views(M.box())
    assert [t.name for t in thumbs] == [
        "front_256.png", "front_512.png", "isometric_256.png", "isometric_512.png", "top_256.png", "top_512.png",
    ]
    assert all(pixels(t.png).shape == (t.size, t.size, 3) for t in thumbs)


def test_turntable_frames_rotate_at_a_fixed_scale():
    slab = M.box(extents=(30.0, 6.0, 6.0))
    frames = T.turntable(slab, frames=8, size=256)
    assert len(frames) == 8 and [f.azimuth for f in frames] == [i * 45.0 for i in range(8)]
    blue = [(pixels(f.png)[..., 2].astype(int) - pixels(f.png)[..., 0]) > 30 for f in frames]
    widths = [m.any(axis=0).sum() for m in blue]
    assert widths[0] > 2 * widths[2]  # side-on vs end-on
    assert abs(widths[0] - widths[4]) <= 2  # 180 degrees apart: same silhouette width
    assert 0.70 * 256 <= max(widths) <= 0.92 * 256  # fills the frame (bounding cylinder + shadow), never crops
    assert len({f.png for f in frames[:4]}) == 4
    assert T.turntable(slab, frames=24, size=256)[6].png == frames[2].png  # same angle, same image


def test_tiny_and_degenerate_meshes_render():
    tri = trimesh.Trimesh([[0, 0, 0], [1e-6, 0, 0], [0, 1e-6, 0]], [[0, 1, 2]], process=False)
    assert pixels(T.render(tri, "top", 256)).shape == (256, 256, 3)
    line = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0]], [[0, 1, 2], [0, 1, 3]], process=False)
    assert content(pixels(T.render(line, "top", 256))).any()
    fan = trimesh.creation.cylinder(radius=5.0, height=1.0, sections=400)  # 400 faces on one vertex
    assert content(pixels(T.render(fan, "isometric", 256))).any()


def test_bad_input():
    with pytest.raises(InvalidGeometryError):
        T.render((np.zeros((0, 3)), np.zeros((0, 3), int)))
    with pytest.raises(InvalidGeometryError):
        T.render((np.zeros((3, 3)), np.array([[0, 1, 5]])))
    with pytest.raises(ValueError, match="unknown view"):
        T.render(M.box(), "sideways")
    with pytest.raises(ValueError):
        T.turntable(M.box(), frames=0)
    with pytest.raises(ValueError, match="color"):
        T.render(M.box(), color=(300, 0, 0))


def test_rendering_starts_no_threads(sphere):
    """One pool process, one core: the compiled kernels must not bring a thread pool along."""
    before = threading.active_count()
    T.standard_views(sphere)
    assert threading.active_count() == before
    import numba
    assert numba.config.NUMBA_NUM_THREADS == 1 or "NUMBA_NUM_THREADS" in os.environ


# -- PNG --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("channels", [3, 4])
def test_png_is_lossless_indexed_or_not(channels):
    rng = np.random.default_rng(1)
    few = rng.integers(0, 256, size=(40, channels), dtype=np.uint8)[rng.integers(0, 40, size=(64, 80))]
    many = rng.integers(0, 256, size=(64, 80, channels), dtype=np.uint8)
    mode = "RGBA" if channels == 4 else "RGB"
    for img, indexed in ((few, True), (many, False)):
        data = png.encode(img)
        decoded = Image.open(io.BytesIO(data))
        assert (decoded.mode == "P") == indexed
        assert np.array_equal(np.asarray(decoded.convert(mode)), img)


def test_back_faces_are_skipped_only_where_they_cannot_show():
    import dataclasses

    closed = T._prepare(M.box())
    assert closed.cull != 0
    for view in T.VIEWS:  # skipping hidden faces changes nothing a shopper sees
        both_sides = dataclasses.replace(closed, cull=0.0)
        assert np.array_equal(T.render_image(closed, view, 256), T.render_image(both_sides, view, 256))
    box = M.box()
    up = np.flatnonzero(box.face_normals[:, 2] > 0.9)
    open_box = trimesh.Trimesh(box.vertices, np.delete(box.faces, up, axis=0), process=False)
    assert T._prepare(open_box).cull == 0
    img = pixels(T.render(open_box, "top", 256))  # looking into the open box: its floor, inside
    blue = (img[..., 2].astype(int) - img[..., 0]) > 30
    assert blue[100:156, 100:156].all()


def test_dense_meshes_skip_smoothing_and_still_render(sphere, monkeypatch):
    monkeypatch.setattr(T, "_SMOOTH_MAX_FACES", 100)  # as if the sphere had millions of faces
    prep = T._prepare(sphere)
    assert prep.corner_normals.shape == (1, 3, 3)
    ssim = structural_similarity(pixels(T.render(sphere, "isometric", 256)), T.render_image(prep, "isometric", 256),
                                 channel_axis=2, data_range=255)
    assert ssim > 0.9


@pytest.mark.parametrize("scale", [1e-300, 1e-6, 1e6, 1e300])
def test_any_scale_renders_the_same_picture(scale):
    """Coordinates near the float limits must neither overflow nor change the picture."""
    mesh = trimesh.creation.icosphere(subdivisions=2, radius=1.0)
    mesh.vertices *= scale
    a = pixels(T.render(mesh, "isometric", 256))
    b = pixels(T.render(trimesh.creation.icosphere(subdivisions=2, radius=1.0), "isometric", 256))
    assert structural_similarity(a, b, channel_axis=2, data_range=255) > 0.99


def test_kernels_stay_in_bounds_on_hostile_coordinates():
    """No machine-code pass may read or write outside its buffers, whatever the coordinates
    (NaN, infinities, 1e300: numba compiles without bounds checks, so a bad index is a crash).
    Each buffer has a guard region after the image that must stay untouched."""
    from processors import raster as R

    rng = np.random.default_rng(5)
    specials = np.array([np.nan, np.inf, -np.inf, 1e300, -1e300, 1e-300, 0.0, 63.999, 64.0, -0.5])
    for it in range(400):
        nv, nf, w, ss = int(rng.integers(3, 20)), int(rng.integers(1, 30)), int(rng.integers(1, 70)), int(rng.integers(1, 3))
        p = rng.uniform(-10, w + 10, size=(nv, 3))
        mask = rng.random(p.shape) < 0.2
        p[mask] = rng.choice(specials, size=mask.sum())
        f = rng.integers(0, nv, size=(nf, 3))
        n, guard = w * w, 64
        depth = np.zeros(n + guard, np.float32)
        fid = np.full(n + guard, 10**6, np.int32)
        shade = np.full(n + guard, 7.0, np.float32)
        gx, gy = np.zeros(nf, np.float32), np.zeros(nf, np.float32)
        facing = rng.normal(size=(nf, 3)).astype(np.float32)
        window = np.zeros(4, np.int64)
        R.rasterize(p, f, rng.random((nf, 3)).astype(np.float32), w, w, depth, fid, shade, gx, gy, ss, window,
                    float(rng.choice([-1, 0, 1])))
        assert 0 <= window[0] <= window[2] <= w and 0 <= window[1] <= window[3] <= w, window
        R.outline(fid, depth, w, facing, gx, gy, 0.8, 1.5, shade, window)
        assert (fid[n:] == 10**6).all() and (shade[n:] == 7.0).all()
        drawn = fid[:n][fid[:n] != 10**6]
        assert ((drawn >= -1) & (drawn < nf)).all()
        size = w // 2
        if size:
            out = np.zeros((size + 1, size, 4), np.uint8)
            R.compose(shade, w, size, np.array([1.0, 2, 3]), np.array([1.0, 2, 3]), np.array([255.0, 255, 255]),
                      bool(it % 2), rng.random((5, 7)), 0.3, rng.choice(specials, size=8),
                      np.array([-1e300, -1e300, 1e300, 1e300]), window, out[:size])
            assert (out[size] == 0).all()
