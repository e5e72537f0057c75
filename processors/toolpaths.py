"""Toolpaths of one layer: perimeter loops (inward offsets) and infill lines (clipped hatches).

Why real paths and not just areas: material follows from areas (volume conservation: a line
of width w at layer height h deposits w*h per mm), but time depends on how the same length is cut
into moves (many short infill lines in a narrow part are slower than a few long ones). So areas
give the filament, these paths give the move list for `processors.motion`.

* perimeter k (0 = external) runs along the section offset inward by (k + 1/2) w (mitred joins,
  as slicers' Clipper offsets do); the region left inside all perimeters is offset by P w;
* infill is a hatch at `angle` with line spacing s = w / density (w for solid layers), anchored
  to a fixed grid so consecutive layers line up; the lines are clipped to the region by GEOS.
"""
from __future__ import annotations

import math

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

_JOIN = dict(join_style="mitre", mitre_limit=3.0)


def perimeter_loops(section: BaseGeometry, width: float, count: int) -> tuple[list[list[np.ndarray]], BaseGeometry]:
    """(rings per perimeter index, the region inside all perimeters). Rings are closed (n, 2) arrays."""
    loops: list[list[np.ndarray]] = []
    for k in range(count):
        inner = shapely.buffer(section, -(k + 0.5) * width, **_JOIN)
        rings = []
        for poly in shapely.get_parts(inner):
            if poly.is_empty or poly.geom_type != "Polygon":
                continue
            rings.append(np.asarray(poly.exterior.coords))
            rings.extend(np.asarray(r.coords) for r in poly.interiors)
        loops.append(rings)
    core = shapely.buffer(section, -count * width, **_JOIN) if count else section
    return loops, core


def hatch_lines(region: BaseGeometry, spacing: float, angle_deg: float) -> BaseGeometry:
    """The lines of a hatch at `angle_deg` with `spacing`, clipped to `region` (a geometry)."""
    if region.is_empty or region.area <= 0 or spacing <= 0:
        return shapely.MultiLineString()
    c, s = math.cos(math.radians(angle_deg)), math.sin(math.radians(angle_deg))
    to_hatch = np.array([[c, -s], [s, c]])  # row vectors: xy @ R rotates by -angle
    rot = shapely.transform(region, lambda xy: xy @ to_hatch)
    x0, y0, x1, y1 = rot.bounds
    ys = np.arange(math.floor(y0 / spacing), math.ceil(y1 / spacing) + 1) * spacing + 0.5 * spacing
    ys = ys[(ys > y0) & (ys < y1)]
    if ys.size == 0:
        return shapely.MultiLineString()
    pad = 1.0
    coords = np.stack([np.stack([np.full_like(ys, x0 - pad), ys], 1), np.stack([np.full_like(ys, x1 + pad), ys], 1)], 1)
    lines = shapely.multilinestrings(shapely.linestrings(coords))
    clipped = shapely.intersection(lines, rot)
    return shapely.transform(clipped, lambda xy: xy @ to_hatch.T)


def hatch(region: BaseGeometry, spacing: float, angle_deg: float) -> np.ndarray:
    """Lengths (mm) of the hatch lines clipped to `region`, in print order (one move each)."""
    parts = shapely.get_parts(hatch_lines(region, spacing, angle_deg))
    if len(parts) == 0:
        return np.zeros(0)
    lengths = shapely.length(parts)
    return lengths[lengths > 1e-6]


__all__ = ["perimeter_loops", "hatch", "hatch_lines"]
