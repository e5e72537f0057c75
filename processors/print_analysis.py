"""FDM printability: overhangs and supports, wall thickness, bed fit, repairs, a 0-100 score.

Why these estimates and not a slicer: a slicer needs printer profiles and minutes per model;
a catalogue needs a fast, explainable signal per model. Every number here has a stated method:

* overhang: faces whose outward normal points more than 45 degrees below the horizontal
  (n_z < -cos 45), excluding faces resting on the bed (the lowest plane);
* support estimate: the volume of prisms dropped from every overhang face to the bed
  (projected area x height of its centroid above the bed); an upper bound, since parts that
  shadow each other would share supports;
* minimum wall thickness: the 5th percentile of local thickness from axis-aligned ray casting
  inward from `max_samples` surface points chosen deterministically (area-weighted); each ray runs along the axis closest to its face normal,
  and the chord to the opposite wall is projected onto the normal (exact for flat walls).
  Rays are tested only against triangles in their cell of a 2-D grid, so the cost is a few
  vectorized passes over the faces however large the mesh is;
* bed fit: the bounding box against a small table of common printers, as placed and rotated
  about Z, plus whether any axis-aligned reorientation fits;
* score: 100 minus named penalties, each listed with its reason.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Sequence

import numpy as np

from processors.errors import ProcessingError
from processors.loading import LoadedMesh
from processors.metadata import TechnicalMetadata, technical_metadata

OVERHANG_ANGLE_DEG = 45.0
THIN_WALL_MM = 0.8  # two perimeters of a 0.4 mm nozzle

# Build volumes in mm (x, y, z), from the manufacturers' spec sheets.
PRINTERS: dict[str, tuple[float, float, float]] = {
    "Prusa MK4": (250.0, 210.0, 220.0),
    "Prusa MINI+": (180.0, 180.0, 180.0),
    "Bambu Lab X1/P1": (256.0, 256.0, 256.0),
    "Bambu Lab A1 mini": (180.0, 180.0, 180.0),
    "Creality Ender 3": (220.0, 220.0, 250.0),
    "Creality K1 Max": (300.0, 300.0, 300.0),
    "Elegoo Mars 4 (resin)": (153.36, 77.76, 175.0),
}

UNIT_TO_MM = {"mm": 1.0, "um": 0.001, "cm": 10.0, "m": 1000.0, "in": 25.4, "ft": 304.8}


@dataclass(frozen=True)
class PrinterFit:
    printer: str
    build_volume: tuple[float, float, float]
    fits: bool  # as placed, possibly rotated 90 degrees about Z
    fits_reoriented: bool  # some axis-aligned orientation fits


@dataclass(frozen=True)
class Issue:
    code: str
    count: int
    repairable: bool
    fix: str


@dataclass(frozen=True)
class ScoreReason:
    code: str
    delta: int
    reason: str


@dataclass(frozen=True)
class PrintAnalysis:
    scale_to_mm: float  # factor applied to file units (units guessed: see units_assumed)
    units_assumed: str
    extents_mm: tuple[float, float, float]
    overhang_area_mm2: float
    overhang_fraction: float  # of total surface area
    support_volume_mm3: float
    needs_supports: bool
    min_wall_thickness_mm: float | None  # 5th percentile of sampled walls; None: no ray hit (open mesh)
    thin_wall_fraction: float  # sampled wall points thinner than THIN_WALL_MM
    wall_samples: int
    bed_fit: tuple[PrinterFit, ...]
    issues: tuple[Issue, ...]
    score: int
    reasons: tuple[ScoreReason, ...]

    def to_dict(self) -> dict:
        return asdict(self)

    def contract_fields(self) -> dict:
        """The analysis fields of the print_analysis.completed.v1 payload (schemas/print_analysis)."""
        return {
            "units_assumed": self.units_assumed,
            "scale_to_mm": self.scale_to_mm,
            "extents_mm": list(self.extents_mm),
            "overhang_area_mm2": self.overhang_area_mm2,
            "overhang_fraction": min(1.0, max(0.0, self.overhang_fraction)),
            "support_volume_mm3": self.support_volume_mm3,
            "needs_supports": self.needs_supports,
            "min_wall_thickness_mm": self.min_wall_thickness_mm,
            "thin_wall_fraction": self.thin_wall_fraction,
            "bed_fit": [
                {"printer": f.printer, "build_volume_mm": list(f.build_volume), "fits": f.fits, "fits_reoriented": f.fits_reoriented}
                for f in self.bed_fit
            ],
            "issues": [asdict(i) for i in self.issues],
            "printability_score": self.score,
            "reasons": [asdict(r) for r in self.reasons],
        }


def _face_data(vertices: np.ndarray, faces: np.ndarray):
    tri = np.take(vertices, faces, axis=0)
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    twice = np.sqrt(np.einsum("ij,ij->i", cross, cross))
    safe = np.where(twice > 0, twice, 1.0)
    normals = cross / safe[:, None]
    return tri, normals, twice / 2.0


def overhangs(tri: np.ndarray, normals: np.ndarray, areas: np.ndarray, angle_deg: float = OVERHANG_ANGLE_DEG):
    """(overhang area, support volume estimate) in file units^2 / units^3."""
    zmin = float(tri[:, :, 2].min())
    height = float(tri[:, :, 2].max()) - zmin
    eps = max(height * 1e-4, 1e-9)
    face_top = np.maximum(np.maximum(tri[:, 0, 2], tri[:, 1, 2]), tri[:, 2, 2])
    down = normals[:, 2] < -math.cos(math.radians(angle_deg))
    on_bed = face_top <= zmin + eps
    over = down & ~on_bed & (areas > 0)
    area = float(areas[over].sum())
    centroid_z = tri[over, :, 2].mean(axis=1) - zmin
    support = float((areas[over] * -normals[over, 2] * centroid_z).sum())
    return area, support


_PAIR_BUDGET = 24_000_000  # (triangle, ray) tests per axis: bounds time and memory on any input
_CHUNK = 2_000_000
_AXIS_ALIGNED = 0.9  # prefer faces within ~25 degrees of an axis (chord ~ thickness)


def _expand(idx: np.ndarray, cnt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Repeat idx[i] cnt[i] times; return (repeated idx, position within its run)."""
    rep = np.repeat(idx, cnt)
    local = np.arange(rep.size) - np.repeat(np.cumsum(cnt) - cnt, cnt)
    return rep, local


def _chunks(cnt: np.ndarray, limit: int = _CHUNK):
    """Slices of consecutive items whose counts sum to about `limit`."""
    ends = np.cumsum(cnt)
    start = 0
    while start < cnt.size:
        base = ends[start - 1] if start else 0
        stop = max(int(np.searchsorted(ends, base + limit, side="right")), start + 1)
        yield slice(start, stop)
        start = stop


def wall_thickness(tri: np.ndarray, normals: np.ndarray, areas: np.ndarray, max_samples: int = 1024, seed: int = 0) -> np.ndarray:
    """Local wall thickness at `max_samples` area-weighted surface points (file units; NaN = no hit).

    Each sample casts a ray from its surface point inward along the axis closest to its
    normal; the nearest other triangle crossing that ray gives the chord, which is projected
    onto the normal (exact for flat walls). Faces within ~25 degrees of an axis are preferred
    so that curved walls are not under-estimated much. Candidates come from a 2-D grid over the
    two other axes; work per axis is capped at `_PAIR_BUDGET` tests (rays are thinned if a
    hostile mesh would need more), so time and memory stay bounded.
    """
    good = np.flatnonzero(areas > 0)
    if good.size == 0:
        return np.zeros(0)
    aligned = good[np.abs(normals[good]).max(axis=1) >= _AXIS_ALIGNED]
    pool = aligned if areas[aligned].sum() >= 0.2 * areas[good].sum() else good
    # Area-weighted points (with replacement, uniform within each face): small meshes get
    # as many samples as big ones, and a big face is not represented by one centroid.
    k = max_samples
    rng = np.random.default_rng(seed)
    sample = np.sort(rng.choice(pool, size=k, replace=True, p=areas[pool] / areas[pool].sum()))
    r1, r2 = rng.random(k), rng.random(k)
    flip = r1 + r2 > 1
    r1[flip], r2[flip] = 1 - r1[flip], 1 - r2[flip]
    st = tri[sample]
    origins = st[:, 0] + r1[:, None] * (st[:, 1] - st[:, 0]) + r2[:, None] * (st[:, 2] - st[:, 0])
    snorm = normals[sample]
    axis_of = np.argmax(np.abs(snorm), axis=1)
    cos_axis = np.abs(snorm[np.arange(k), axis_of])

    lo = np.minimum(np.minimum(tri[:, 0], tri[:, 1]), tri[:, 2])  # (F, 3) per-face bbox
    hi = np.maximum(np.maximum(tri[:, 0], tri[:, 1]), tri[:, 2])
    mesh_lo = np.array([lo[:, a].min() for a in range(3)])  # column-wise: axis=0 is slow
    span = np.array([hi[:, a].max() for a in range(3)]) - mesh_lo
    eps = max(float(np.linalg.norm(span)) * 1e-6, 1e-12)
    grid = int(np.clip(math.sqrt(len(tri)) / 2, 4, 512))
    best = np.full(k, np.inf)

    for axis in range(3):
        rays = np.flatnonzero(axis_of == axis)
        if rays.size == 0:
            continue
        ua, va = [a for a in range(3) if a != axis]
        su = max(float(span[ua]), eps) / grid
        sv = max(float(span[va]), eps) / grid

        def cells(values: np.ndarray, a: int, step: float) -> np.ndarray:
            return np.clip(((values - mesh_lo[a]) / step).astype(np.int64), 0, grid - 1)

        cu0, cu1 = cells(lo[:, ua], ua, su), cells(hi[:, ua], ua, su)
        cv0, cv1 = cells(lo[:, va], va, sv), cells(hi[:, va], va, sv)
        nv = cv1 - cv0 + 1
        cnt = (cu1 - cu0 + 1) * nv
        small = np.flatnonzero(cnt <= 64)
        large = np.flatnonzero(cnt > 64)
        small_pairs = int(cnt[small].sum())

        for _ in range(8):  # thin rays until the estimated work fits the budget
            rcell = cells(origins[rays, ua], ua, su) * grid + cells(origins[rays, va], va, sv)
            per_cell = np.bincount(rcell, minlength=grid * grid)
            est = small_pairs * rays.size / (grid * grid) + large.size * rays.size
            if rays.size <= 16 or (est <= _PAIR_BUDGET and per_cell.max() * max(1, small_pairs // (grid * grid)) <= _PAIR_BUDGET):
                break
            rays = rays[:: 2]
        order = np.argsort(rcell, kind="stable")
        rays, rcell = rays[order], rcell[order]
        needed = per_cell > 0

        def test(jt: np.ndarray, jr: np.ndarray) -> None:
            keep = jt != sample[jr]
            jt, jr = jt[keep], jr[keep]
            pu, pv = origins[jr, ua], origins[jr, va]
            au, av = tri[jt, 0, ua] - pu, tri[jt, 0, va] - pv
            bu, bv = tri[jt, 1, ua] - pu, tri[jt, 1, va] - pv
            cu, cv = tri[jt, 2, ua] - pu, tri[jt, 2, va] - pv
            w0 = bu * cv - bv * cu
            w1 = cu * av - cv * au
            w2 = au * bv - av * bu
            tot = w0 + w1 + w2
            inside = (((w0 >= 0) & (w1 >= 0) & (w2 >= 0)) | ((w0 <= 0) & (w1 <= 0) & (w2 <= 0))) & (tot != 0)
            if not inside.any():
                return
            jt, jr = jt[inside], jr[inside]
            depth = (w0[inside] * tri[jt, 0, axis] + w1[inside] * tri[jt, 1, axis] + w2[inside] * tri[jt, 2, axis]) / tot[inside]
            t = (depth - origins[jr, axis]) * -np.sign(snorm[jr, axis])  # inward along the axis
            ok = t > eps
            np.minimum.at(best, jr[ok], t[ok])

        # single-cell triangles (most of a dense mesh): no expansion needed
        one = small[cnt[small] == 1]
        one_cell = cu0[one] * grid + cv0[one]
        hit_one = needed[one_cell]
        one, one_cell = one[hit_one], one_cell[hit_one]
        first = np.searchsorted(rcell, one_cell, side="left")
        reps = np.searchsorted(rcell, one_cell, side="right") - first
        for sl2 in _chunks(reps):
            jt, pos = _expand(one[sl2], reps[sl2])
            test(jt, rays[np.repeat(first[sl2], reps[sl2]) + pos])
        # small multi-cell triangles: expand to their cells, keep cells holding rays, join
        small = small[cnt[small] > 1]
        for sl in _chunks(cnt[small]):
            t_idx, local = _expand(small[sl], cnt[small[sl]])
            cell = (cu0[t_idx] + local // nv[t_idx]) * grid + (cv0[t_idx] + local % nv[t_idx])
            sel = needed[cell]
            t_idx, cell = t_idx[sel], cell[sel]
            first = np.searchsorted(rcell, cell, side="left")
            reps = np.searchsorted(rcell, cell, side="right") - first
            for sl2 in _chunks(reps):
                jt, pos = _expand(t_idx[sl2], reps[sl2])
                test(jt, rays[np.repeat(first[sl2], reps[sl2]) + pos])
        # large triangles (rare): test against every ray of this axis
        if large.size:
            for sl in _chunks(np.full(large.size, rays.size)):
                jt, pos = _expand(large[sl], np.full(sl.stop - sl.start, rays.size))
                test(jt, rays[pos])

    result = np.where(np.isfinite(best), best * cos_axis, np.nan)
    return result


class UnknownPrinterError(ProcessingError):
    """A request names a printer the bed-fit table does not know (a caller's mistake: not retried)."""

    code = "unknown_printer"


def bed_fit(extents_mm, printers: Sequence[str] = ()) -> tuple[PrinterFit, ...]:
    """Fit against the named printers (all known ones when none are named)."""
    unknown = sorted(set(printers) - set(PRINTERS))
    if unknown:
        raise UnknownPrinterError(f"unknown printers {unknown}; known: {sorted(PRINTERS)}")
    ex = tuple(float(e) for e in extents_mm)
    out = []
    for name, vol in PRINTERS.items():
        if printers and name not in printers:
            continue
        as_placed = (ex[0] <= vol[0] and ex[1] <= vol[1]) or (ex[1] <= vol[0] and ex[0] <= vol[1])
        fits = as_placed and ex[2] <= vol[2]
        fits_any = all(a <= b for a, b in zip(sorted(ex), sorted(vol)))
        out.append(PrinterFit(name, vol, fits, fits_any))
    return tuple(out)


def _issues(meta: TechnicalMetadata) -> tuple[Issue, ...]:
    out = []
    if not meta.watertight and meta.holes:
        out.append(Issue("holes", meta.holes, True, "fill the boundary loops (hole filling)"))
    if meta.non_manifold_edges:
        out.append(Issue("non_manifold_edges", meta.non_manifold_edges, False, "split or remesh non-manifold edges by hand"))
    if not meta.winding_consistent:
        out.append(Issue("inconsistent_winding", 1, True, "re-orient faces consistently (fix normals)"))
    if meta.inverted:
        out.append(Issue("inverted_normals", meta.triangles, True, "flip all faces"))
    if meta.degenerate_faces:
        out.append(Issue("degenerate_faces", meta.degenerate_faces, True, "remove zero-area faces"))
    if meta.duplicate_faces:
        out.append(Issue("duplicate_faces", meta.duplicate_faces, True, "remove duplicate faces"))
    return tuple(out)


def analyze_print(loaded: LoadedMesh, meta: TechnicalMetadata | None = None, max_samples: int = 1024,
                  overhang_angle_deg: float = OVERHANG_ANGLE_DEG, printers: Sequence[str] = ()) -> PrintAnalysis:
    """Printability of a loaded mesh. Pass `meta` if you already have it to save a pass;
    `max_samples` is the wall-thickness sampling density (expensive analysis raises it),
    `printers` limits bed fit to those printers."""
    meta = meta or technical_metadata(loaded)
    unit = loaded.units or "mm"
    scale = UNIT_TO_MM.get(unit, 1.0)
    vertices = np.asarray(loaded.mesh.vertices, dtype=np.float64)
    faces = np.asarray(loaded.mesh.faces, dtype=np.int64)
    tri, normals, areas = _face_data(vertices, faces)
    total_area = float(areas.sum())

    over_area, support = overhangs(tri, normals, areas, overhang_angle_deg)
    thickness = wall_thickness(tri, normals, areas, max_samples=max_samples)
    measured = thickness[np.isfinite(thickness)] * scale
    # Robust minimum: the 5th percentile. Axis-aligned rays from points near the edge of a
    # tilted face can exit early through a neighbouring face; a few such samples must not
    # define the answer, while a genuinely thin region covers more than 5% of the surface.
    min_wall = float(np.percentile(measured, 5)) if measured.size else None
    thin_fraction = float((measured < THIN_WALL_MM).mean()) if measured.size else 0.0
    extents = tuple(float(e) * scale for e in meta.extents)
    fits = bed_fit(extents, printers)
    issues = _issues(meta)
    overhang_fraction = over_area / total_area if total_area > 0 else 0.0
    support_mm3 = support * scale**3
    volume_mm3 = (meta.volume or 0.0) * scale**3

    reasons: list[ScoreReason] = []

    def penalty(code: str, delta: int, reason: str) -> None:
        if delta:
            reasons.append(ScoreReason(code, -abs(int(delta)), reason))

    if not meta.watertight:
        penalty("not_watertight", 30, f"mesh is not watertight ({meta.holes} holes, {meta.non_manifold_edges} non-manifold edges): slicers may fail or guess")
    elif not meta.winding_consistent:
        penalty("inconsistent_winding", 10, "faces are not consistently oriented: inside/outside is ambiguous until repaired")
    if meta.inverted:
        penalty("inverted", 5, "all normals point inwards (trivial to repair)")
    if meta.degenerate_faces > 0.01 * meta.triangles:
        penalty("degenerate_faces", 5, f"{meta.degenerate_faces} degenerate faces (>1%)")
    if overhang_fraction > 0.02:
        d = int(round(min(20.0, overhang_fraction * 60)))
        penalty("overhangs", d, f"{overhang_fraction:.0%} of the surface overhangs beyond {overhang_angle_deg:.0f} degrees: needs supports")
    if min_wall is not None and min_wall < THIN_WALL_MM:
        d = int(round(min(20.0, 8 + thin_fraction * 40)))
        penalty("thin_walls", d, f"walls down to {min_wall:.2f} mm ({thin_fraction:.0%} of samples under {THIN_WALL_MM} mm)")
    if not any(f.fits_reoriented for f in fits):
        penalty("too_big", 15, f"{extents[0]:.0f} x {extents[1]:.0f} x {extents[2]:.0f} mm fits none of the common printers: must be split or scaled")
    elif not any(f.fits for f in fits):
        penalty("reorient", 3, "fits common printers only when reoriented")
    if max(extents) < 2.0:
        penalty("tiny", 10, f"largest dimension {max(extents):.2f} mm: below what FDM printers resolve (units wrong?)")
    if meta.bodies > 1:
        reasons.append(ScoreReason("multiple_bodies", 0, f"{meta.bodies} separate bodies: print together or as parts"))
    score = max(0, min(100, 100 + sum(r.delta for r in reasons)))
    return PrintAnalysis(
        scale_to_mm=scale,
        units_assumed=unit if loaded.units else "mm (no units in file)",
        extents_mm=extents,  # type: ignore[arg-type]
        overhang_area_mm2=over_area * scale**2,
        overhang_fraction=overhang_fraction,
        support_volume_mm3=support_mm3,
        needs_supports=overhang_fraction > 0.01 and support_mm3 > 0.001 * max(volume_mm3, 1e-9),
        min_wall_thickness_mm=min_wall,
        thin_wall_fraction=thin_fraction,
        wall_samples=int(thickness.size),
        bed_fit=fits,
        issues=issues,
        score=int(score),
        reasons=tuple(reasons),
    )


__all__ = ["PRINTERS", "PrinterFit", "Issue", "ScoreReason", "PrintAnalysis", "analyze_print", "bed_fit", "overhangs", "wall_thickness"]
