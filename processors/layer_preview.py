"""A small PNG of a few sliced layers: outline, perimeters and infill, one panel per layer.

Why: a user deciding whether to print wants to see what the slicer will do inside the part
(how thick the walls come out, where infill goes) without a slicer; a 2 x 2 sheet of layers at
a quarter, half, three quarters of the height and the top is enough for that. All panels share
one scale (the model's XY footprint), so layers can be compared by eye.
"""
from __future__ import annotations

import io

import numpy as np
import shapely
from PIL import Image, ImageDraw

from processors.loading import LoadedMesh
from processors.sections import as_polygons, cross_sections, plane_heights
from processors.slicing import SlicerProfile, _prepared, layer_regions
from processors.toolpaths import hatch_lines, perimeter_loops

OUTLINE = (20, 20, 20)
PERIMETER = (40, 90, 200)
INFILL = (230, 140, 30)
SOLID = (200, 60, 60)


def preview_layers(layer_count: int, panels: int = 4) -> list[int]:
    """Layer indices shown: evenly spread from a quarter of the height to the top layer."""
    if layer_count <= 0:
        return []
    picks = np.linspace(layer_count / panels, layer_count, panels) - 1
    return sorted({int(round(p)) for p in np.clip(picks, 0, layer_count - 1)})


def layer_preview_png(loaded: LoadedMesh, profile: SlicerProfile = SlicerProfile(), size: int = 256, panels: int = 4) -> tuple[bytes, list[int]]:
    """(PNG bytes of a size x size sheet of `panels` layers, the layer indices drawn)."""
    v, f, _ = _prepared(loaded)
    tops, thick = plane_heights(0.0, float(np.ptp(v[:, 2])) if len(v) else 0.0, profile.layer_height_mm, profile.first_layer_height_mm)
    picks = preview_layers(len(tops), panels)
    needed = sorted({j for i in picks for j in range(max(0, i - profile.bottom_layers), min(len(tops), i + profile.top_layers + 1))})
    secs = dict(zip(needed, cross_sections(v, f, (tops - thick / 2)[needed])))
    all_secs = [secs.get(j, shapely.MultiPolygon()) for j in range(len(tops))]

    grid = int(np.ceil(np.sqrt(max(1, len(picks)))))
    cell = size // grid
    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    if len(v):
        lo, hi = v[:, :2].min(axis=0), v[:, :2].max(axis=0)
    else:
        lo, hi = np.zeros(2), np.ones(2)
    span = float(max(hi - lo)) or 1.0
    margin = 6
    scale = (cell - 2 * margin) / span
    w = profile.extrusion_width_mm

    for n, i in enumerate(picks):
        ox, oy = (n % grid) * cell, (n // grid) * cell

        def px(xy: np.ndarray) -> list[tuple[float, float]]:
            p = (np.asarray(xy)[:, :2] - lo) * scale
            return [(ox + margin + x, oy + cell - margin - y) for x, y in p]  # y up

        loops, core = perimeter_loops(all_secs[i], w, profile.perimeters)
        solid, _ = layer_regions(all_secs, i, core, profile)
        sparse = shapely.difference(core, solid) if not solid.is_empty else core
        if profile.sparse_fill > 0 and not sparse.is_empty:
            spacing = w / profile.sparse_fill
            hatches = ([(2 * spacing, 45.0), (2 * spacing, -45.0)] if profile.infill_pattern == "grid"
                       else [(spacing, 45.0 if i % 2 == 0 else -45.0)])
            for gap, angle in hatches:
                for line in shapely.get_parts(hatch_lines(sparse, gap, angle)):
                    draw.line(px(np.asarray(line.coords)), fill=INFILL, width=1)
        for line in shapely.get_parts(hatch_lines(solid, max(w, 1.5 / scale), 45.0 if i % 2 == 0 else -45.0)):
            draw.line(px(np.asarray(line.coords)), fill=SOLID, width=1)  # solid skin, drawn sparser than printed
        for rings in loops:
            for ring in rings:
                draw.line(px(ring), fill=PERIMETER, width=1)
        for poly in as_polygons(all_secs[i]):
            for ring in [poly.exterior, *poly.interiors]:
                draw.line(px(np.asarray(ring.coords)), fill=OUTLINE, width=1)
        draw.text((ox + 3, oy + 2), f"layer {i + 1}/{len(tops)}", fill=(0, 0, 0))
        draw.rectangle((ox, oy, ox + cell - 1, oy + cell - 1), outline=(200, 200, 200))
    out = io.BytesIO()
    img.save(out, format="PNG", optimize=True)
    return out.getvalue(), picks


__all__ = ["layer_preview_png", "preview_layers"]
