"""Sellability: a transparent weighted score a seller can argue with.

Why weighted factors and not a model: a catalogue owner must see *why* a model ranks low and
what would raise it. Each factor has a name, a weight (weights sum to 1), a value in 0..1 and a
one-line reason; the score is 100 x sum(weight x value), nothing hidden.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from processors.metadata import TechnicalMetadata
from processors.print_analysis import PrintAnalysis

WEIGHTS: dict[str, float] = {
    "printability": 0.30,  # will it print without fuss
    "mesh_quality": 0.15,  # watertight, manifold, consistent: no repair before selling
    "support_free": 0.15,  # supports cost buyers time and material
    "size_fit": 0.15,  # fits common printers as is
    "detail": 0.15,  # enough geometry to look designed, not so much it chokes slicers
    "kit_value": 0.10,  # multi-part kits and assemblies are worth more
}


@dataclass(frozen=True)
class Factor:
    name: str
    weight: float
    value: float
    reason: str


@dataclass(frozen=True)
class SellabilityScore:
    score: float
    factors: tuple[Factor, ...]

    def to_dict(self) -> dict:
        return asdict(self)


def _detail(triangles: int) -> tuple[float, str]:
    # sweet spot 5k..500k triangles, falling off on a log scale either side
    t = max(triangles, 1)
    if t < 5_000:
        v = max(0.0, math.log10(t) / math.log10(5_000))
        return v, f"{triangles:,} triangles: simple geometry (under 5k)"
    if t > 500_000:
        v = max(0.3, 1.0 - 0.35 * math.log10(t / 500_000))
        return v, f"{triangles:,} triangles: heavy for slicers (over 500k)"
    return 1.0, f"{triangles:,} triangles: good level of detail"


def sellability(meta: TechnicalMetadata, prints: PrintAnalysis, parts: int = 1, metamodel_confidence: float | None = None) -> SellabilityScore:
    """Score a model from its metadata and print analysis (and how many parts it has)."""
    factors: list[Factor] = []

    def add(name: str, value: float, reason: str) -> None:
        factors.append(Factor(name, WEIGHTS[name], round(min(1.0, max(0.0, value)), 4), reason))

    add("printability", prints.score / 100.0, f"printability score {prints.score}/100")
    if meta.watertight and meta.winding_consistent and meta.non_manifold_edges == 0:
        add("mesh_quality", 1.0 if meta.degenerate_faces == 0 else 0.85, "watertight, manifold and consistently oriented")
    elif meta.watertight:
        add("mesh_quality", 0.6, "closed but needs orientation repair")
    else:
        add("mesh_quality", 0.2, f"not watertight ({meta.holes} holes, {meta.non_manifold_edges} non-manifold edges)")
    add("support_free", 1.0 - min(1.0, prints.overhang_fraction * 4),
        "prints without supports" if not prints.needs_supports else f"{prints.overhang_fraction:.0%} of the surface needs support")
    if any(f.fits for f in prints.bed_fit):
        n = sum(f.fits for f in prints.bed_fit)
        add("size_fit", n / len(prints.bed_fit), f"fits {n} of {len(prints.bed_fit)} common printers as placed")
    elif any(f.fits_reoriented for f in prints.bed_fit):
        add("size_fit", 0.4, "fits common printers only when reoriented")
    else:
        add("size_fit", 0.1, "too large for common printers: must be split or scaled")
    value, reason = _detail(meta.triangles)
    add("detail", value, reason)
    if parts > 1 and (metamodel_confidence is None or metamodel_confidence >= 0.5):
        add("kit_value", 1.0, f"{parts}-part kit")
    elif meta.bodies > 1:
        add("kit_value", 0.8, f"{meta.bodies} bodies in one file (set or kit)")
    else:
        add("kit_value", 0.6, "single part")
    score = round(100.0 * sum(f.weight * f.value for f in factors), 2)
    return SellabilityScore(score=score, factors=tuple(factors))


__all__ = ["WEIGHTS", "Factor", "SellabilityScore", "sellability"]
