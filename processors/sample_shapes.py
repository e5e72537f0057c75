"""A catalogue of 53 parameterised shapes that are distinct up to pose and scale.

Why: near-duplicate detection needs known truth at scale -- models that must NOT match each
other -- and the six bundled samples (processors/samples.py) are too few. Every entry differs
from every other in kind or in its proportions by a visible margin (a 1:1:2 box and a 1:1:3.5
box, never a 1:1:2 and a 1:1:2.1), because two shapes that differ only by a uniform scale ARE
near duplicates by definition. Built with trimesh's primitives and boolean-free concatenation of
touching parts (closed meshes, deterministic: same triangles every call).
"""
from __future__ import annotations

import numpy as np
import trimesh


def _box(ext, offset=(0.0, 0.0, 0.0)) -> trimesh.Trimesh:
    m = trimesh.creation.box(extents=ext)
    m.apply_translation(offset)
    return m


def _fan_prism(xy: np.ndarray, depth: float) -> trimesh.Trimesh:
    """Closed prism over a polygon that is star-shaped about the origin (counter-clockwise `xy`)."""
    n = len(xy)
    verts = np.vstack([np.c_[xy, np.zeros(n)], np.c_[xy, np.full(n, depth)], [[0, 0, 0], [0, 0, depth]]])
    i, j = np.arange(n), (np.arange(n) + 1) % n
    bottom = np.c_[np.full(n, 2 * n), j, i]
    top = np.c_[np.full(n, 2 * n + 1), n + i, n + j]
    sides = np.vstack([np.c_[i, j, n + j], np.c_[i, n + j, n + i]])
    return trimesh.Trimesh(verts, np.vstack([bottom, top, sides]), process=True)


def _star(points: int, inner: float, depth: float) -> trimesh.Trimesh:
    ang = np.arange(2 * points) * np.pi / points
    rad = np.where(np.arange(2 * points) % 2 == 0, 10.0, 10.0 * inner)
    return _fan_prism(np.c_[rad * np.cos(ang), rad * np.sin(ang)], depth)


def _ellipsoid(axes) -> trimesh.Trimesh:
    m = trimesh.creation.icosphere(subdivisions=3, radius=1.0)
    m.apply_scale(axes)
    return m


def _tube(r_out: float, r_in: float, h: float) -> trimesh.Trimesh:
    return trimesh.creation.annulus(r_min=r_in, r_max=r_out, height=h, sections=48)


def _stairs(steps: int) -> trimesh.Trimesh:
    return trimesh.util.concatenate([_box((10.0, 10.0 * (steps - k), 10.0), (0.0, 5.0 * k, 10.0 * k + 5.0)) for k in range(steps)])


def _bracket(arm: float, upright: float) -> trimesh.Trimesh:
    return trimesh.util.concatenate([_box((arm, 20.0, 4.0), (arm / 2, 0.0, 2.0)), _box((4.0, 20.0, upright), (2.0, 0.0, 4.0 + upright / 2))])


def _table(plate: float, pillar: float) -> trimesh.Trimesh:
    return trimesh.util.concatenate([_box((4.0, 4.0, pillar), (0.0, 0.0, pillar / 2)), _box((plate, plate, 2.0), (0.0, 0.0, pillar + 1.0))])


def _cross(length: float) -> trimesh.Trimesh:
    return trimesh.util.concatenate([_box((length, 4.0, 4.0)), _box((4.0, length, 4.0), (0.0, 0.0, 4.0)), _box((4.0, 4.0, length), (0.0, 0.0, 8.0 + length / 2))])


def _dumbbell(ball: float, bar: float) -> trimesh.Trimesh:
    a = trimesh.creation.icosphere(subdivisions=3, radius=ball)
    b = trimesh.creation.icosphere(subdivisions=3, radius=ball)
    a.apply_translation((0.0, 0.0, -bar / 2 - ball))
    b.apply_translation((0.0, 0.0, bar / 2 + ball))
    rod = trimesh.creation.cylinder(radius=ball / 4, height=bar, sections=32)
    return trimesh.util.concatenate([a, rod, b])


def distinct_shapes() -> dict[str, trimesh.Trimesh]:
    """53 closed meshes, by name; no two are the same shape up to pose and uniform scale."""
    s: dict[str, trimesh.Trimesh] = {}
    for ext in [(1, 1, 1), (1, 1, 2), (1, 1, 3.5), (1, 1, 6), (1, 2, 2), (1, 2, 4), (1, 3, 3), (1, 4, 8), (2, 3, 4), (1, 1, 0.25)]:
        s["box_" + "x".join(f"{e:g}" for e in ext)] = _box(np.asarray(ext, dtype=float) * 10.0)
    for hd in (0.2, 0.6, 1.6, 3.5, 7.0):
        s[f"cylinder_h{hd:g}d"] = trimesh.creation.cylinder(radius=10.0, height=20.0 * hd, sections=64)
    for ratio in (0.12, 0.3, 0.55, 0.8):
        s[f"torus_r{ratio:g}"] = trimesh.creation.torus(20.0, 20.0 * ratio, major_sections=64, minor_sections=32)
    for hr in (1.0, 4.0, 9.0):
        s[f"capsule_h{hr:g}r"] = trimesh.creation.capsule(height=5.0 * hr, radius=5.0, count=[32, 32])
    for hr in (0.5, 1.5, 4.0):
        s[f"cone_h{hr:g}r"] = trimesh.creation.cone(radius=10.0, height=10.0 * hr, sections=64)
    for r_in, h in ((0.5, 0.3), (0.8, 0.3), (0.5, 2.0), (0.85, 3.0)):
        s[f"tube_in{r_in:g}_h{h:g}"] = _tube(10.0, 10.0 * r_in, 20.0 * h)
    s["sphere"] = trimesh.creation.icosphere(subdivisions=3, radius=10.0)
    for axes in ((1, 1, 2.5), (1, 2, 3), (1, 1, 0.35)):
        s["ellipsoid_" + "x".join(f"{a:g}" for a in axes)] = _ellipsoid(np.asarray(axes, dtype=float) * 10.0)
    for pts, inner, depth in ((5, 0.4, 4.0), (8, 0.7, 4.0), (5, 0.4, 30.0), (12, 0.5, 12.0)):
        s[f"star{pts}_i{inner:g}_d{depth:g}"] = _star(pts, inner, depth)
    for steps in (2, 4, 7):
        s[f"stairs_{steps}"] = _stairs(steps)
    for arm, up in ((40.0, 30.0), (80.0, 10.0), (20.0, 70.0)):
        s[f"bracket_{arm:g}_{up:g}"] = _bracket(arm, up)
    for plate, pillar in ((20.0, 10.0), (40.0, 40.0), (12.0, 60.0)):
        s[f"table_{plate:g}_{pillar:g}"] = _table(plate, pillar)
    for length in (20.0, 60.0):
        s[f"cross_{length:g}"] = _cross(length)
    for ball, bar in ((8.0, 20.0), (4.0, 60.0)):
        s[f"dumbbell_{ball:g}_{bar:g}"] = _dumbbell(ball, bar)
    s["icosahedron"] = trimesh.creation.icosahedron()
    s["hex_prism_flat"] = trimesh.creation.cylinder(radius=10.0, height=4.0, sections=6)
    s["tetra_slab"] = trimesh.creation.cone(radius=10.0, height=12.0, sections=3)
    return s


__all__ = ["distinct_shapes"]
