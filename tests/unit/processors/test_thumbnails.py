"""Thumbnails: valid deterministic PNGs, the right views and framing, no display needed."""
from __future__ import annotations

import io

import numpy as np
import pytest
import trimesh
from PIL import Image

from processors import thumbnails as T
from processors.errors import InvalidGeometryError
from processors.loading import load_mesh

from . import _meshes as M


def pixels(png: bytes) -> np.ndarray:
    img = Image.open(io.BytesIO(png))
    assert img.format == "PNG"
    return np.asarray(img.convert("RGB"))


def covered(png: bytes) -> np.ndarray:
    return (pixels(png) != 255).any(axis=2)


@pytest.fixture(scope="module")
def sphere():
    return trimesh.creation.icosphere(subdivisions=3, radius=5.0)


def test_sizes_and_determinism(sphere):
    for size in (256, 512):
        png = T.render(sphere, "isometric", size)
        assert pixels(png).shape == (size, size, 3)
        assert png == T.render(sphere.copy(), "isometric", size)  # byte-identical


def test_accepts_loaded_mesh_and_arrays():
    loaded = load_mesh(M.stl(M.box()))
    a = T.render(loaded, "front", 256)
    b = T.render((loaded.mesh.vertices, loaded.mesh.faces), "front", 256)
    assert a == b


def test_front_view_of_a_cube_is_a_centred_square():
    cov = covered(T.render(M.box(), "front", 256))
    rows = np.flatnonzero(cov.any(axis=1))
    cols = np.flatnonzero(cov.any(axis=0))
    # framed at 92% of the image, centred
    assert abs(len(rows) - 0.92 * 256) <= 3 and abs(len(cols) - 0.92 * 256) <= 3
    assert abs((rows[0] + rows[-1]) / 2 - 127.5) <= 1.5
    assert cov[rows[0] + 2 : rows[-1] - 2, cols[0] + 2 : cols[-1] - 2].all()  # solid, no cracks
    assert not cov[:5].any() and not cov[:, :5].any()  # background margin


def test_views_differ_and_top_view_of_a_wide_box_is_wide():
    slab = M.box(extents=(40.0, 10.0, 2.0))
    front, top, iso = (T.render(slab, v, 256) for v in ("front", "top", "isometric"))
    assert len({front, top, iso}) == 3
    cov = covered(top)
    assert cov.any(axis=0).sum() > 3 * cov.any(axis=1).sum()  # 40 x 10 footprint
    cov_front = covered(front)
    assert cov_front.any(axis=0).sum() > 10 * cov_front.any(axis=1).sum()  # 40 x 2 side


def test_top_view_sees_the_top():
    # a small cube on top of a big one: from the top both are visible, shaded alike (flat tops)
    mesh = trimesh.util.concatenate([M.box((20, 20, 10), (0, 0, 5)), M.box((4, 4, 4), (0, 0, 12))])
    img = pixels(T.render(mesh, "top", 256))
    assert (img[128, 128] == img[40, 40]).all()


def test_winding_does_not_matter(sphere):
    flipped = trimesh.Trimesh(sphere.vertices, sphere.faces[:, ::-1], process=False)
    assert T.render(sphere, "isometric", 256) == T.render(flipped, "isometric", 256)


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


def test_turntable_frames_rotate_at_a_fixed_scale():
    slab = M.box(extents=(30.0, 6.0, 6.0))
    frames = T.turntable(slab, frames=8, size=256)
    assert len(frames) == 8 and [f.azimuth for f in frames] == [i * 45.0 for i in range(8)]
    widths = [covered(f.png).any(axis=0).sum() for f in frames]
    assert widths[0] > 2 * widths[2]  # side-on vs end-on
    assert abs(widths[0] - widths[4]) <= 2  # 180 degrees apart: same silhouette width
    assert len({f.png for f in frames[:4]}) == 4
    assert T.turntable(slab, frames=24, size=256)[6].png == frames[2].png  # same angle, same image


def test_tiny_and_degenerate_meshes_render():
    tri = trimesh.Trimesh([[0, 0, 0], [1e-6, 0, 0], [0, 1e-6, 0]], [[0, 1, 2]], process=False)
    assert pixels(T.render(tri, "top", 256)).shape == (256, 256, 3)
    line = trimesh.Trimesh([[0, 0, 0], [1, 0, 0], [2, 0, 0], [0, 1, 0]], [[0, 1, 2], [0, 1, 3]], process=False)
    assert covered(T.render(line, "top", 256)).any()


def test_bad_input():
    with pytest.raises(InvalidGeometryError):
        T.render((np.zeros((0, 3)), np.zeros((0, 3), int)))
    with pytest.raises(ValueError, match="unknown view"):
        T.render(M.box(), "sideways")
    with pytest.raises(ValueError):
        T.turntable(M.box(), frames=0)
