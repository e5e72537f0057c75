"""Shape fingerprint for near-duplicate detection: pose-, scale- and tessellation-invariant.

Why this descriptor (docs/adr/0009-slicing-and-similarity.md): it must be computed per model in
milliseconds, stored in a few hundred bytes, compared without alignment, and not change when a
model is moved, rotated, mirrored, uniformly scaled or re-meshed. So it describes the SURFACE as a
set of points, through statistics that none of those operations change:

* D2 shape distribution (Osada et al., "Shape distributions", ACM TOG 2002): the histogram of
  distances between pairs of surface points, divided by the RMS radius of the surface;
* D1: the histogram of point distances from the surface centroid / RMS radius (separates shapes
  D2 confuses, e.g. hollow vs solid-looking layouts);
* the square roots of the ratios of the surface's second-moment eigenvalues (l2/l1, l3/l1): the
  principal proportions (a 1:2:4 box vs a 1:2:3 box), EXACT integrals over the triangles, so
  re-tessellating a surface does not change them at all;
* the distribution of the angle between the surface normals of point pairs (a cosine histogram):
  a box has only 0 and +-1, a cylinder a continuum, a hexagonal prism +-1/2 as well; it is what
  tells a disc from a hexagonal plate of the same proportions.
  (flipping every normal does not change it; inconsistent winding does: repair first).

Points are spread over the surface with stratified area sampling (systematic sampling along the
cumulative face area with a fixed-seed offset, then fixed-seed barycentric coordinates), so the
same mesh always gives the same fingerprint, and different tessellations of one surface give
histograms that differ only by sampling noise (see the bench for the measured scores).

Histograms use linear (tent) binning so values on a bin edge do not flip between bins.
Similarity = exp(-mean_k(d_k / s_k)) in (0, 1], where d_k is the half-L1 distance of each
histogram (and the mean absolute difference of the two ratios) and s_k its noise scale.
"""
from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from typing import Iterable

import numpy as np

FINGERPRINT_VERSION = 1
SEED = 20231
SAMPLES = 1024  # points whose pairs feed D2 and the normal angles (523,776 pairs)
D1_SAMPLES = 8192  # D1 has one value per point, so it needs more points for the same noise
D2_BINS, D2_RANGE = 32, 3.5  # distances / RMS radius; the longest possible is < 2 * max radius
D1_BINS, D1_RANGE = 16, 2.5
AN_BINS = 15  # cosine between the normals of a pair, in [-1, 1]; odd, so 0 (perpendicular faces) is mid-bin
# Each part's distance is divided by its noise scale (about the largest distance seen between a
# shape and its re-tessellated, re-posed copies on the 50-shape catalogue, rounded up) and the
# four are averaged: D = mean(d_k / s_k); similarity = exp(-D).
SCALES = (0.04, 0.03, 0.02, 0.02)  # D2, D1, normal angles, principal ratios
WEIGHTS = (0.25, 0.25, 0.25, 0.25)
THRESHOLD = 0.5  # similarity at or above which two models are near duplicates (D <= 0.69; see the ADR)
_LENGTH = D2_BINS + D1_BINS + AN_BINS + 2
_HEADER = struct.Struct("<BH")


@dataclass(frozen=True)
class Fingerprint:
    d2: tuple[float, ...]  # D2_BINS probabilities, sum 1
    d1: tuple[float, ...]  # D1_BINS probabilities, sum 1
    an: tuple[float, ...]  # AN_BINS probabilities, sum 1
    ratios: tuple[float, float]  # sqrt(l2/l1), sqrt(l3/l1) of the surface second moments
    version: int = FINGERPRINT_VERSION

    def to_list(self) -> list[float]:
        """The descriptor as floats (an Avro `array<float>`), versioned by FINGERPRINT_VERSION."""
        return [*self.d2, *self.d1, *self.an, *self.ratios]

    def to_float32_list(self) -> list[float]:
        """The descriptor as the float32 values an Avro `array<float>` carries (exactly, so the
        fingerprint an event holds is the one the index stores)."""
        return np.asarray(self.to_list(), dtype="<f4").tolist()

    def to_bytes(self) -> bytes:
        """Compact form (an Avro `bytes`): version (u8), count (u16), float32 values; 263 bytes."""
        values = np.asarray(self.to_list(), dtype="<f4")
        return _HEADER.pack(self.version, values.size) + values.tobytes()

    @classmethod
    def from_list(cls, values: Iterable[float], version: int = FINGERPRINT_VERSION) -> "Fingerprint":
        v = [float(x) for x in values]
        if len(v) != _LENGTH or version != FINGERPRINT_VERSION:
            raise ValueError(f"fingerprint v{version} with {len(v)} values; expected v{FINGERPRINT_VERSION} with {_LENGTH}")
        a, b = D2_BINS, D2_BINS + D1_BINS
        return cls(tuple(v[:a]), tuple(v[a:b]), tuple(v[b:b + AN_BINS]), (v[-2], v[-1]), version)

    @classmethod
    def from_bytes(cls, data: bytes) -> "Fingerprint":
        version, n = _HEADER.unpack_from(data)
        if len(data) != _HEADER.size + 4 * n:
            raise ValueError(f"fingerprint bytes: {len(data)} bytes for {n} values")
        return cls.from_list(np.frombuffer(data, dtype="<f4", offset=_HEADER.size).tolist(), version)


def _surface_moments(tri: np.ndarray, areas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Area-weighted centroid and covariance of the surface, exact over the triangles."""
    total = areas.sum()
    centroid = (areas[:, None] * tri.mean(axis=1)).sum(axis=0) / total
    t = tri - centroid
    s = t.sum(axis=1)
    # integral over a triangle of x x^T dA = A/12 (sum_i v_i v_i^T + s s^T), s = sum of vertices
    second = np.einsum("f,fij,fik->jk", areas, t, t) + np.einsum("f,fj,fk->jk", areas, s, s)
    return centroid, second / (12.0 * total)


def _samples(tri: np.ndarray, areas: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """n stratified area-weighted points and the index of the face each lies on."""
    cum = np.cumsum(areas)
    u = (np.arange(n) + rng.random()) / n * cum[-1]
    face = np.minimum(np.searchsorted(cum, u, side="right"), len(areas) - 1)
    r1, r2 = rng.random(n), rng.random(n)
    flip = r1 + r2 > 1
    r1[flip], r2[flip] = 1 - r1[flip], 1 - r2[flip]
    t = tri[face]
    return t[:, 0] + r1[:, None] * (t[:, 1] - t[:, 0]) + r2[:, None] * (t[:, 2] - t[:, 0]), face


_SUB = 15  # sub-bins per bin for the tent weights; odd, so a bin centre (cosine 0) is a sub-bin centre


def _soft_histogram(values: np.ndarray, bins: int, lo: float, hi: float) -> np.ndarray:
    """Histogram with linear (tent) binning: each value is shared between its two nearest bin
    centres, so a value sitting on a bin edge (a cube's perpendicular faces, an icosahedron's
    1/3 cosines) moves the histogram continuously instead of jumping between bins. Sums to 1.

    Computed as a fine histogram (`_SUB` sub-bins per bin, one bincount) whose sub-bins are then
    shared by the tent weights of their centres: the same up to 1/30 of a bin, and 5x faster
    than weighting 500k values one by one.
    """
    fine = bins * _SUB
    idx = ((values - lo) * (fine / (hi - lo))).astype(np.int64)
    counts = np.bincount(np.clip(idx, 0, fine - 1), minlength=fine).astype(np.float64)
    x = (np.arange(fine) + 0.5) / _SUB - 0.5  # sub-bin centres in bin units
    i0 = np.floor(x).astype(np.int64)
    frac = x - i0
    out = np.bincount(np.clip(i0, 0, bins - 1), weights=counts * (1.0 - frac), minlength=bins)
    out += np.bincount(np.clip(i0 + 1, 0, bins - 1), weights=counts * frac, minlength=bins)
    return out / out.sum()


def fingerprint_arrays(vertices: np.ndarray, faces: np.ndarray, samples: int = SAMPLES, seed: int = SEED) -> Fingerprint:
    """Fingerprint of a triangle surface (vertices (n, 3), faces (m, 3)); needs a non-zero area."""
    # imported here: the similarity index (the worker's event loop) compares fingerprints and must
    # not pay scipy's import (0.7 s of CPU) at every worker start; pool processes have it loaded
    from scipy.spatial.distance import pdist

    tri = np.asarray(vertices, dtype=np.float64)[np.asarray(faces, dtype=np.int64)]
    cross = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    areas = 0.5 * np.sqrt(np.einsum("ij,ij->i", cross, cross))
    keep = np.isfinite(areas) & (areas > 0)
    tri, areas = tri[keep], areas[keep]
    if areas.size == 0:
        raise ValueError("a fingerprint needs a surface with non-zero area")
    centroid, cov = _surface_moments(tri, areas)
    eig = np.sort(np.clip(np.linalg.eigvalsh(cov), 0.0, None))[::-1]
    rms = math.sqrt(float(eig.sum())) or 1.0
    ratios = (math.sqrt(eig[1] / eig[0]), math.sqrt(eig[2] / eig[0])) if eig[0] > 0 else (0.0, 0.0)

    rng = np.random.default_rng(seed)
    pts, face = _samples(tri, areas, max(samples, D1_SAMPLES), rng)
    pts = (pts - centroid) / rms
    radial = np.linalg.norm(pts, axis=1)
    pick = np.linspace(0, len(pts) - 1, samples).astype(np.int64)  # spread over the surface (stratified order)
    pts, face = pts[pick], face[pick]
    normals = cross[keep][face] / (2.0 * areas[face])[:, None]
    cosines = 1.0 - 0.5 * pdist(normals, "sqeuclidean")  # unit vectors: |a - b|^2 = 2 - 2 cos
    an = _soft_histogram(cosines, AN_BINS, -1.0, 1.0)
    d2 = _soft_histogram(pdist(pts), D2_BINS, 0.0, D2_RANGE)
    d1 = _soft_histogram(radial, D1_BINS, 0.0, D1_RANGE)
    return Fingerprint(tuple(d2.tolist()), tuple(d1.tolist()), tuple(an.tolist()),
                       (float(ratios[0]), float(ratios[1])))


def fingerprint(loaded) -> Fingerprint:
    """Fingerprint of a `LoadedMesh` (or anything with `.mesh` or `.vertices`/`.faces`)."""
    mesh = getattr(loaded, "mesh", loaded)
    return fingerprint_arrays(np.asarray(mesh.vertices), np.asarray(mesh.faces))


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """1 for identical descriptors, 0 for maximally different ones."""
    return float(math.exp(-float(np.dot(WEIGHTS, distances(a, b) / np.asarray(SCALES)))))


def distances(a: Fingerprint, b: Fingerprint) -> np.ndarray:
    """Per-part distances in [0, 1]: D2, D1, normal angles (half L1), principal ratios (mean abs)."""
    return np.array([
        0.5 * float(np.abs(np.subtract(a.d2, b.d2)).sum()),
        0.5 * float(np.abs(np.subtract(a.d1, b.d1)).sum()),
        0.5 * float(np.abs(np.subtract(a.an, b.an)).sum()),
        0.5 * float(np.abs(np.subtract(a.ratios, b.ratios)).sum()),
    ])


def is_near_duplicate(a: Fingerprint, b: Fingerprint, threshold: float = THRESHOLD) -> bool:
    return similarity(a, b) >= threshold


def best_matches(fp: Fingerprint, candidates: Iterable[tuple[object, Fingerprint]], threshold: float = THRESHOLD,
                 limit: int = 5) -> list[tuple[object, float]]:
    """Up to `limit` (key, similarity) pairs at or above `threshold`, best first (ties: by key text)."""
    found = [(key, similarity(fp, other)) for key, other in candidates]
    found = [(k, s) for k, s in found if s >= threshold]
    found.sort(key=lambda ks: (-ks[1], str(ks[0])))
    return found[:max(0, limit)]


__all__ = ["FINGERPRINT_VERSION", "THRESHOLD", "Fingerprint", "fingerprint", "fingerprint_arrays", "similarity",
           "is_near_duplicate", "best_matches"]
