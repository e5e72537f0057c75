"""Metamodel detection: which files of a folder, and which bodies within a file, are one model.

Why separate from discovery: discovery must decide from names alone (before downloading);
this stage has the geometry too, so it can confirm or doubt a grouping and say why, with a
confidence in 0..1 built from named pieces of evidence:

* names: a shared stem with part markers (part_01/part_02, _base/_top, 1 of 3)   +0.45
* same folder                                                                   +0.10
* shared scale: largest dimensions within 5x of each other                        +0.15
* placement: bounding boxes touch or overlap (parts exported in assembly position) +0.20,
  or share a footprint centre / a face plane (laid out on one bed)                 +0.10
* same format and units                                                          +0.05
* bodies inside one file: they were saved together on purpose                     +0.55
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from processors.loading import LoadedMesh
from processors.naming import folder as folder_of
from processors.naming import group_names, part_name, stem


@dataclass(frozen=True)
class PartInfo:
    """One file (or one body of a file, when `body_index` is set) with its bounding box."""

    key: str
    bbox_min: tuple[float, float, float]
    bbox_max: tuple[float, float, float]
    body_index: int | None = None
    format: str = ""
    units: str | None = None

    @property
    def extents(self) -> np.ndarray:
        return np.asarray(self.bbox_max, float) - np.asarray(self.bbox_min, float)


@dataclass(frozen=True)
class Metamodel:
    group_id: str
    name: str
    kind: str  # "files" or "bodies"
    parts: tuple[PartInfo, ...]
    roles: tuple[str | None, ...]
    confidence: float
    reasons: tuple[str, ...]

    def to_dict(self) -> dict:
        return {
            "group_id": self.group_id, "name": self.name, "kind": self.kind,
            "parts": [{"key": p.key, "body_index": p.body_index, "role": r} for p, r in zip(self.parts, self.roles)],
            "confidence": self.confidence, "reasons": list(self.reasons),
        }


def _group_id(parts) -> str:
    h = hashlib.sha256()
    for p in sorted(parts, key=lambda p: (p.key, -1 if p.body_index is None else p.body_index)):
        h.update(f"{p.key}\0{p.body_index}\n".encode())
    return h.hexdigest()[:32]


def _role(p: PartInfo) -> str | None:
    if p.body_index is not None:
        return f"body_{p.body_index + 1:02d}"
    pn = part_name(p.key)
    if pn.marker and pn.marker.startswith("role:"):
        return pn.marker[5:]
    if pn.index is not None:
        return f"part_{pn.index:02d}"
    return None


def geometry_evidence(parts: list[PartInfo]) -> tuple[float, list[str]]:
    """Score shared scale and placement of a set of parts."""
    score, reasons = 0.0, []
    sizes = np.array([p.extents.max() for p in parts])
    if sizes.min() > 0 and sizes.max() / sizes.min() <= 5.0:
        score += 0.15
        reasons.append(f"shared scale: largest dimensions {sizes.min():.3g}..{sizes.max():.3g} (within 5x)")
    lo = np.array([p.bbox_min for p in parts], float)
    hi = np.array([p.bbox_max for p in parts], float)
    diag = float(np.linalg.norm(hi.max(axis=0) - lo.min(axis=0))) or 1.0
    tol = 0.02 * diag
    # each part touches at least one other part's box (gap <= 2% of the assembly diagonal)
    touching = []
    for i in range(len(parts)):
        gaps = np.maximum(0.0, np.maximum(lo - hi[i], lo[i] - hi)).max(axis=1)
        gaps[i] = np.inf
        touching.append(bool((gaps <= tol).any()))
    if all(touching):
        score += 0.20
        reasons.append("bounding boxes touch or overlap: parts are placed in assembly position")
    else:
        centres = (lo + hi) / 2
        same_xy = np.ptp(centres[:, :2], axis=0).max() <= tol
        same_floor = np.ptp(lo[:, 2]) <= tol
        if same_xy:
            score += 0.10
            reasons.append("parts share a footprint centre (stacked on one axis)")
        elif same_floor:
            score += 0.10
            reasons.append("bounding boxes align on Z (laid out on one build plate)")
    return score, reasons


def score_files(parts: list[PartInfo]) -> tuple[float, list[str]]:
    names = [part_name(p.key) for p in parts]
    score, reasons = 0.0, []
    keys = {n.key for n in names}
    if all(n.marker for n in names) and len(keys) == 1:
        score += 0.45
        key = next(iter(keys))
        markers = ", ".join(sorted({(n.marker or "").replace("role:", "") for n in names}))
        reasons.append(f"shared stem {key!r} with part markers ({markers})" if key else f"part-marker names ({markers})")
    if len({folder_of(p.key) for p in parts}) == 1:
        score += 0.10
        reasons.append("same folder")
    g, why = geometry_evidence(parts)
    score += g
    reasons += why
    if len({p.format for p in parts}) == 1 and len({p.units for p in parts}) == 1:
        score += 0.05
        reasons.append("same format and units")
    return min(1.0, round(score, 4)), reasons


def detect_file_groups(parts: list[PartInfo]) -> tuple[list[Metamodel], list[PartInfo]]:
    """Group files (per folder, by name) and score each group; returns (groups, ungrouped)."""
    by_key = {p.key: p for p in parts}
    by_folder: dict[str, list[str]] = {}
    for p in parts:
        by_folder.setdefault(folder_of(p.key), []).append(p.key)
    groups, ungrouped = [], []
    for folder in sorted(by_folder):
        for keys in group_names(by_folder[folder]):
            members = [by_key[k] for k in keys]
            if len(members) == 1:
                ungrouped.append(members[0])
                continue
            conf, reasons = score_files(members)
            name = part_name(keys[0]).key or (folder.rsplit("/", 1)[-1] if folder else stem(keys[0]))
            groups.append(Metamodel(_group_id(members), name, "files", tuple(members),
                                    tuple(_role(m) for m in members), conf, tuple(reasons)))
    return groups, ungrouped


def body_parts(loaded: LoadedMesh, key: str = "") -> list[PartInfo]:
    """One PartInfo per connected body of a mesh (vertex connectivity), in a stable order."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    faces = np.asarray(loaded.mesh.faces, dtype=np.int64)
    vertices = np.asarray(loaded.mesh.vertices, dtype=np.float64)
    n = len(vertices)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
    graph = coo_matrix((np.ones(len(edges), np.int8), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, labels = connected_components(graph, directed=False)
    used = np.unique(faces)
    # renumber bodies by first vertex so the order follows the file
    uniq, first = np.unique(labels[used], return_index=True)
    order = uniq[np.argsort(used[first])]
    out = []
    for i, lab in enumerate(order):
        pts = vertices[labels == lab]
        out.append(PartInfo(key, tuple(pts.min(axis=0)), tuple(pts.max(axis=0)), i, loaded.format, loaded.units))
    return out


def detect_bodies(loaded: LoadedMesh, key: str = "", max_bodies: int = 256) -> Metamodel | None:
    """A multi-body file as one multi-part model (None for a single body or too many bodies)."""
    bodies = body_parts(loaded, key)
    if len(bodies) < 2:
        return None
    if len(bodies) > max_bodies:
        return Metamodel(_group_id(bodies[:1]), stem(key) or "model", "bodies", tuple(bodies[:max_bodies]),
                         tuple(_role(b) for b in bodies[:max_bodies]), 0.3,
                         (f"{len(bodies)} bodies in one file: likely fragments or a scan, not an assembly",))
    score, reasons = 0.55, [f"{len(bodies)} bodies saved together in one file"]
    g, why = geometry_evidence(bodies)
    return Metamodel(_group_id(bodies), stem(key) or "model", "bodies", tuple(bodies),
                     tuple(_role(b) for b in bodies), min(1.0, round(score + g, 4)), tuple(reasons + why))


def part_info(loaded: LoadedMesh, key: str) -> PartInfo:
    """A whole file as one part: its key, bounding box, format and units."""
    low, high = loaded.mesh.bounds
    return PartInfo(key, tuple(map(float, low)), tuple(map(float, high)), None, loaded.format, loaded.units)


def detect_metamodels(loaded_files, split_bodies: bool = True) -> tuple[list[Metamodel], list[Metamodel], list[PartInfo]]:
    """Every grouping of one folder's parsed (key, LoadedMesh) files: (groups of files, multi-body
    files as groups of bodies when `split_bodies`, files in no group). One function so the stage
    and the bench's baseline (bench/workflow_work.py) do the same geometry."""
    parts, body_groups = [], []
    for key, loaded in loaded_files:
        parts.append(part_info(loaded, key))
        found = detect_bodies(loaded, key) if split_bodies else None
        if found is not None:
            body_groups.append(found)
    file_groups, ungrouped = detect_file_groups(parts)
    return file_groups, body_groups, ungrouped


__all__ = ["PartInfo", "Metamodel", "detect_file_groups", "detect_bodies", "detect_metamodels", "body_parts", "geometry_evidence", "score_files"]
