"""FDM slicing estimate: layers, filament (length, mass), support, print time, bed fit.

Why our own estimate and not a slicer binary: the pipeline must run anywhere the worker runs
(no PrusaSlicer/CuraEngine install, no GUI libraries) and answer in about a second per model.
This module slices the mesh for real (cross-sections -> perimeters -> infill hatches, see
`processors.sections` and `processors.toolpaths`) and times the resulting moves with an
acceleration-aware planner (`processors.motion`), but it does not emit G-code.

Method, per layer i of thickness h_i (sliced at mid-layer height):
* section S_i (even-odd polygons); area A_i, outline length;
* perimeters: P loops inward, the region inside them C_i = S_i offset by -P w;
* solid vs sparse: the part of C_i that lies under all of the next T sections and over all of
  the previous B sections is sparse; the rest of C_i is solid (top/bottom skins); the first B
  and the last T layers are all solid;
* filament volume: (A_i - area(C_i)) h + solid h + min(1, density * pattern_factor) * sparse h,
  so at 100 % infill it is sum A_i h_i, the midpoint-rule volume of the part (a closed mesh's
  volume to O(h^2));
* support: the envelope from the overhang analysis (`print_analysis.overhangs`: prisms from
  each >45 degree overhang face down to the bed) times the support density;
* time: every perimeter loop is a chain of moves with junction limits (square corner velocity)
  and lookahead; infill and solid lines are moves entered and left at the corner speed of a
  90 degree zig-zag turn, joined by connectors one spacing long; a travel (with retract/unretract)
  between consecutive loops and infill islands; the layer change; layers faster than the minimum
  layer time are slowed down as slicers do (not below `min_print_speed`); see `processors.motion`.

Calibration (docs/adr/0009-slicing-and-similarity.md): filament is checked against analytic
volumes (solid cube at 100 % infill: exact; sphere: within 0.1 %; a hollow box tracks its wall);
the time model against closed-form move times. It is NOT calibrated against real printers or a
slicer's G-code estimate: we had no slicer or printer in this environment, and we do not quote
published print times from memory.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, replace
from typing import Sequence

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from processors.loading import LoadedMesh
from processors.motion import plan_time, polyline_segments, trapezoid_time
from processors.print_analysis import UNIT_TO_MM, PrinterFit, _face_data, bed_fit, overhangs
from processors.sections import as_polygons, cross_sections, plane_heights
from processors.toolpaths import hatch_lines, perimeter_loops

DEFAULT_PRINTER = "Prusa MK4"


@dataclass(frozen=True)
class SlicerProfile:
    """Print settings. Defaults are PrusaSlicer's 0.20 mm profile for a 0.4 mm nozzle on the MK4.

    Source: PrusaSlicer's `resources/profiles/PrusaResearch.ini` (config_version 2.2.3), the
    intermediate sections `[print:*common*]`, `[print:*0.20mm*]` and `[print:*MK4*]` that the
    "0.20mm ... @MK4" presets inherit (a preset may override speeds; we did not resolve one):
    layer 0.2, first layer 0.2, extrusion width 0.45, 2 perimeters, 5 top / 4 bottom layers,
    15 % grid infill, perimeter 50 / external 40 / infill 60 / solid 50 / top 40 / first layer
    20 / support 50 / travel 200 mm/s; accelerations perimeter 800, infill 2000, solid 1500,
    top 800, first layer 600, default 1000 mm/s^2; support lines 0.35 mm every 2 mm (15 %).
    Material: PLA, 1.75 mm filament, 1.24 g/cm^3 (Cura's generic PLA material).
    From memory, not re-checked against a file: square corner velocity 5 mm/s (Klipper's default
    `square_corner_velocity`), section resolution 0.0125 mm (PrusaSlicer's `gcode_resolution`),
    retraction 0.8 mm at 35 mm/s, minimum layer time 10 s not below
    10 mm/s (Cura's `cool_min_layer_time` / `cool_min_speed` defaults), Z speed 12 mm/s.
    """

    layer_height_mm: float = 0.2
    first_layer_height_mm: float = 0.2
    nozzle_diameter_mm: float = 0.4
    extrusion_width_mm: float = 0.45
    perimeters: int = 2
    top_layers: int = 5
    bottom_layers: int = 4
    infill_density: float = 0.15
    infill_pattern: str = "grid"  # "grid" (both diagonals every layer) or "rectilinear" (alternating)
    infill_pattern_factor: float = 1.0  # material of the pattern / (density x interior); 1 for line patterns
    support_material: bool = True  # print supports under >45 degree overhangs
    support_density: float = 0.149  # 0.35 mm lines every 2 mm
    support_width_mm: float = 0.35
    external_perimeter_speed: float = 40.0  # mm/s
    perimeter_speed: float = 50.0
    infill_speed: float = 60.0
    solid_infill_speed: float = 50.0
    top_solid_infill_speed: float = 40.0
    first_layer_speed: float = 20.0
    support_speed: float = 50.0
    travel_speed: float = 200.0
    z_speed: float = 12.0
    perimeter_acceleration: float = 800.0  # mm/s^2
    infill_acceleration: float = 2000.0
    solid_infill_acceleration: float = 1500.0
    top_solid_infill_acceleration: float = 800.0
    first_layer_acceleration: float = 600.0
    default_acceleration: float = 1000.0  # travel and support
    square_corner_velocity: float = 5.0  # mm/s
    retract_length_mm: float = 0.8
    retract_speed: float = 35.0
    retract_before_travel_mm: float = 1.0
    min_layer_time_s: float = 10.0
    min_print_speed: float = 10.0
    resolution_mm: float = 0.0125  # sections simplified to this before toolpaths (areas stay exact)
    filament_diameter_mm: float = 1.75
    material_density_g_cm3: float = 1.24

    def __post_init__(self) -> None:
        if self.infill_pattern not in ("grid", "rectilinear"):
            raise ValueError(f"infill_pattern {self.infill_pattern!r}: 'grid' or 'rectilinear'")
        positive = ("layer_height_mm", "first_layer_height_mm", "extrusion_width_mm", "filament_diameter_mm", "material_density_g_cm3")
        bad = [n for n in positive if not getattr(self, n) > 0]
        if bad or self.perimeters < 0 or self.top_layers < 0 or self.bottom_layers < 0 or not 0 <= self.infill_density <= 1:
            raise ValueError(f"invalid slicer profile: {bad or 'negative layer counts or infill outside 0..1'}")

    def with_(self, **changes) -> "SlicerProfile":
        return replace(self, **changes)

    @property
    def sparse_fill(self) -> float:
        """Fraction of the interior the sparse infill fills (clamped: 100 % = solid)."""
        return float(min(1.0, max(0.0, self.infill_density * self.infill_pattern_factor)))


@dataclass(frozen=True)
class LayerStats:
    index: int
    z_mm: float  # top of the layer above the bed
    height_mm: float
    area_mm2: float  # cross-section area
    outline_length_mm: float  # cross-section boundary length (outer outlines and holes)
    islands: int
    perimeter_path_mm: float
    solid_infill_path_mm: float
    sparse_infill_path_mm: float
    travel_mm: float
    filament_volume_mm3: float
    time_s: float


@dataclass(frozen=True)
class SliceEstimate:
    printer: str
    profile: SlicerProfile
    layer_count: int
    height_mm: float
    extents_mm: tuple[float, float, float]
    sliced_volume_mm3: float  # sum of section area x layer height (the part's volume, sliced)
    perimeter_volume_mm3: float
    solid_infill_volume_mm3: float
    sparse_infill_volume_mm3: float
    support_volume_mm3: float  # envelope under overhangs (print_analysis), not the filament
    support_filament_volume_mm3: float
    part_filament_volume_mm3: float  # perimeters + solid + sparse infill (no support)
    filament_volume_mm3: float  # everything extruded: part + support
    filament_length_mm: float
    filament_mass_g: float
    print_time_s: float
    time_breakdown_s: dict[str, float]
    bed_fit: tuple[PrinterFit, ...]
    fits_printer: bool  # fits `printer` as placed (or rotated about Z)
    closed_sections: bool  # every section closed (watertight input); otherwise open parts are missing
    warnings: tuple[str, ...]
    layers: tuple[LayerStats, ...] = field(repr=False)

    def to_dict(self) -> dict:
        """JSON-ready: the summary plus `layers`, one dict per layer."""
        return {**self.summary(), "layers": [asdict(layer) for layer in self.layers]}

    def summary(self) -> dict:
        """Everything but the per-layer list (for an event payload)."""
        d = asdict(self)
        d.pop("layers")
        d["profile"] = asdict(self.profile)
        d["bed_fit"] = [
            {"printer": f.printer, "build_volume_mm": list(f.build_volume), "fits": f.fits, "fits_reoriented": f.fits_reoriented}
            for f in self.bed_fit
        ]
        d["extents_mm"] = list(self.extents_mm)
        d["warnings"] = list(self.warnings)
        return d


def _area(g: BaseGeometry) -> float:
    return float(shapely.area(g)) if not g.is_empty else 0.0


def _zigzag_time(lengths: np.ndarray, spacing: float, speed: float, accel: float, corner: float) -> float:
    """Hatch lines printed as a zig-zag: each line and each connector (one spacing long) is
    entered and left at the 90-degree corner speed; the first start and last stop at rest."""
    if lengths.size == 0:
        return 0.0
    t = float(trapezoid_time(lengths, speed, accel, corner, corner).sum())
    t += float(trapezoid_time(np.full(lengths.size - 1, spacing), speed, accel, corner, corner).sum())
    return t + 2 * corner / accel  # the zig-zag starts from and ends at rest


def _travel(starts: list[np.ndarray], p: SlicerProfile) -> tuple[float, float]:
    """(distance, seconds) of rest-to-rest travels between consecutive path starts."""
    if len(starts) < 2:
        return 0.0, 0.0
    pts = np.asarray(starts)
    d = np.hypot(*(np.diff(pts, axis=0).T))
    t = float(trapezoid_time(d, p.travel_speed, p.default_acceleration, 0.0, 0.0).sum())
    retracts = int((d > p.retract_before_travel_mm).sum())
    t += retracts * 2 * p.retract_length_mm / p.retract_speed
    return float(d.sum()), t


def _prepared(loaded: LoadedMesh) -> tuple[np.ndarray, np.ndarray, float]:
    scale = UNIT_TO_MM.get(loaded.units or "mm", 1.0)
    v = np.asarray(loaded.mesh.vertices, dtype=np.float64) * scale
    f = np.asarray(loaded.mesh.faces, dtype=np.int64)
    if len(v):
        v = v - np.array([0.0, 0.0, v[:, 2].min()])  # on the bed
    return v, f, scale


_EMPTY = shapely.MultiPolygon()


def _minus(a: BaseGeometry, b: BaseGeometry) -> BaseGeometry:
    """a - b, skipping the overlay when a predicate answers it (b prepared: fast)."""
    if a.is_empty or b.is_empty:
        return a
    if shapely.contains_properly(b, a):
        return _EMPTY
    if not shapely.intersects(a, b):
        return a
    return shapely.difference(a, b)


def layer_regions(sections: list[BaseGeometry], i: int, core: BaseGeometry, p: SlicerProfile) -> tuple[BaseGeometry, BaseGeometry]:
    """(solid, top) parts of layer i's interior `core`; the rest of `core` is sparse infill.

    Solid = the union over the next T and previous B sections S_j of (core - S_j): the interior
    that some nearby layer does not cover. Computed as differences against whole sections (whose
    edges lie away from the core's, which is offset inward) rather than as core minus the
    intersection of the window: that overlay meets nearly coincident edges and costs GEOS 10-100x
    more. Top = core - S_{i+1} (exposed to the air above, printed at top speed).
    """
    n = len(sections)
    above = sections[i + 1] if i + 1 < n else _EMPTY
    top = _minus(core, above)
    if i < p.bottom_layers or i >= n - p.top_layers or p.sparse_fill >= 1.0 or core.is_empty:
        return core, top
    parts = [top] + [_minus(core, sj) for sj in (*sections[i - p.bottom_layers:i], *sections[i + 2:i + 1 + p.top_layers])]
    parts = [g for g in parts if not g.is_empty]
    if not parts:
        return _EMPTY, top
    return (parts[0] if len(parts) == 1 else shapely.union_all(parts)), top


def _lengths(lines: BaseGeometry) -> np.ndarray:
    parts = shapely.get_parts(lines)
    if len(parts) == 0:
        return np.zeros(0)
    lengths = shapely.length(parts)
    return lengths[lengths > 1e-6]


def slice_mesh(loaded: LoadedMesh, profile: SlicerProfile = SlicerProfile(), printer: str = DEFAULT_PRINTER,
               printers: Sequence[str] = ()) -> SliceEstimate:
    """Slice `loaded` with `profile`; bed fit against `printers` (all known when empty) and `printer`."""
    p = profile
    w = p.extrusion_width_mm
    v, f, _ = _prepared(loaded)
    extents = tuple(float(e) for e in (np.ptp(v, axis=0) if len(v) else np.zeros(3)))
    fits = bed_fit(extents, sorted(set(printers) | {printer}) if printers else ())
    fits_printer = next(fi.fits for fi in fits if fi.printer == printer)

    tops, thick = plane_heights(0.0, extents[2], p.layer_height_mm, p.first_layer_height_mm)
    sections = cross_sections(v, f, tops - thick / 2)
    n = len(sections)
    tool_sections = [shapely.simplify(g, p.resolution_mm) if p.resolution_mm > 0 else g for g in sections]
    for g in tool_sections:
        shapely.prepare(g)

    layers: list[LayerStats] = []
    vol = {"perimeter": 0.0, "solid": 0.0, "sparse": 0.0}
    tb = {"perimeters": 0.0, "solid_infill": 0.0, "sparse_infill": 0.0, "travel": 0.0, "layer_change": 0.0, "min_layer_time_slowdown": 0.0, "support": 0.0}
    sparse_spacing = w / p.sparse_fill if p.sparse_fill > 0 else 0.0
    for i, sec in enumerate(sections):
        h = float(thick[i])
        first = i == 0
        area = _area(sec)
        tool = tool_sections[i]
        loops, core = perimeter_loops(tool, w, p.perimeters)
        core_area = _area(core)
        solid, top = layer_regions(tool_sections, i, core, p)
        solid_area = min(_area(solid), core_area)
        sparse_area = core_area - solid_area
        v_layer = {
            "perimeter": max(0.0, area - core_area) * h,
            "solid": solid_area * h,
            "sparse": p.sparse_fill * sparse_area * h,
        }
        for k in vol:
            vol[k] += v_layer[k]

        # moves
        speed = (lambda s: p.first_layer_speed) if first else (lambda s: s)
        acc = (lambda a: p.first_layer_acceleration) if first else (lambda a: a)
        seg_len, seg_v, caps = [], [], [np.zeros(1)]
        for k, rings in enumerate(loops):
            lengths, junction = polyline_segments(rings, p.square_corner_velocity)
            if lengths.size:
                seg_len.append(lengths)
                seg_v.append(np.full(lengths.size, speed(p.external_perimeter_speed if k == 0 else p.perimeter_speed)))
                caps.append(junction[1:])
        t_perim = plan_time(np.concatenate(seg_len), np.concatenate(seg_v), acc(p.perimeter_acceleration), np.concatenate(caps)) if seg_len else 0.0
        perim_path = float(sum(float(np.sum(s)) for s in seg_len))

        angle = 45.0 if i % 2 == 0 else -45.0
        corner = p.square_corner_velocity
        solid_lines = hatch_lines(solid, w, angle)
        if top.is_empty or solid.is_empty:
            top_lines, lower_lines = shapely.MultiLineString(), solid_lines
        else:
            top_lines, lower_lines = shapely.intersection(solid_lines, top), shapely.difference(solid_lines, top)
        solid_paths = [(_lengths(top_lines), speed(p.top_solid_infill_speed), acc(p.top_solid_infill_acceleration)),
                       (_lengths(lower_lines), speed(p.solid_infill_speed), acc(p.solid_infill_acceleration))]
        t_solid = sum(_zigzag_time(lens, w, sp, ac, corner) for lens, sp, ac in solid_paths)
        solid_path = float(sum(lens.sum() for lens, _, _ in solid_paths))
        sparse_lines = []
        if sparse_area > 1e-9 and p.sparse_fill > 0:
            hatches = ([(2 * sparse_spacing, 45.0), (2 * sparse_spacing, -45.0)] if p.infill_pattern == "grid"
                       else [(sparse_spacing, angle)])
            for gap, ang in hatches:
                lines = hatch_lines(core, gap, ang)  # lines over the interior, minus the solid part
                sparse_lines.append(_lengths(lines if solid.is_empty else shapely.difference(lines, solid)))
        sp_gap = 2 * sparse_spacing if p.infill_pattern == "grid" else sparse_spacing
        t_sparse = sum(_zigzag_time(lens, sp_gap, speed(p.infill_speed), acc(p.infill_acceleration), corner) for lens in sparse_lines)
        sparse_path = float(sum(lens.sum() for lens in sparse_lines))

        starts = [r[0] for rings in loops for r in rings]
        starts += [np.asarray(g.representative_point().coords[0]) for g in as_polygons(core)]
        travel_mm, t_travel = _travel(starts, p)
        t_change = h / p.z_speed
        t_extrude = t_perim + t_solid + t_sparse
        # minimum layer time: stretch extrusion moves, but not below min_print_speed
        t_layer = t_extrude + t_travel + t_change
        slow = 0.0
        if t_layer < p.min_layer_time_s and t_extrude > 0:
            slowest = (perim_path + solid_path + sparse_path) / p.min_print_speed
            slow = max(0.0, min(p.min_layer_time_s - t_layer, slowest - t_extrude))
        tb["perimeters"] += t_perim
        tb["solid_infill"] += t_solid
        tb["sparse_infill"] += t_sparse
        tb["travel"] += t_travel
        tb["layer_change"] += t_change
        tb["min_layer_time_slowdown"] += slow
        layers.append(LayerStats(
            index=i, z_mm=float(tops[i]), height_mm=h, area_mm2=area,
            outline_length_mm=float(shapely.length(shapely.boundary(sec))) if not sec.is_empty else 0.0,
            islands=len(as_polygons(sec)), perimeter_path_mm=perim_path, solid_infill_path_mm=solid_path,
            sparse_infill_path_mm=sparse_path, travel_mm=travel_mm, filament_volume_mm3=sum(v_layer.values()),
            time_s=t_layer + slow,
        ))

    # supports from the overhang analysis (an envelope: prisms to the bed), printed at support density
    support_env = 0.0
    if len(f):
        tri, normals, areas = _face_data(v, f)
        over_area, support_env = overhangs(tri, normals, areas)
    support_fil = support_env * p.support_density if p.support_material else 0.0
    if support_fil > 0:
        path = support_fil / (p.support_width_mm * p.layer_height_mm)
        line = float(np.clip(math.sqrt(max(over_area, 1e-9)), 2.0, 100.0))  # a line ~ the overhang's side
        count = path / line
        tb["support"] = count * float(trapezoid_time(np.array([line]), p.support_speed, p.default_acceleration, 0.0, 0.0)[0])

    sliced = float(sum(layer.area_mm2 * layer.height_mm for layer in layers))
    part = vol["perimeter"] + vol["solid"] + vol["sparse"]
    total = part + support_fil
    r = p.filament_diameter_mm / 2
    closed = bool(loaded.mesh.is_watertight) if len(f) else False
    warnings = []
    if not closed:
        warnings.append("mesh is not watertight: open parts of the sections are left out of areas and filament")
    if not fits_printer:
        warnings.append(f"{extents[0]:.0f} x {extents[1]:.0f} x {extents[2]:.0f} mm does not fit the {printer} as placed")
    return SliceEstimate(
        printer=printer, profile=p, layer_count=n, height_mm=extents[2], extents_mm=extents,  # type: ignore[arg-type]
        sliced_volume_mm3=sliced, perimeter_volume_mm3=vol["perimeter"], solid_infill_volume_mm3=vol["solid"],
        sparse_infill_volume_mm3=vol["sparse"], support_volume_mm3=support_env, support_filament_volume_mm3=support_fil,
        part_filament_volume_mm3=part, filament_volume_mm3=total, filament_length_mm=total / (math.pi * r * r),
        filament_mass_g=total / 1000.0 * p.material_density_g_cm3,
        print_time_s=float(sum(tb.values())), time_breakdown_s=tb, bed_fit=fits, fits_printer=bool(fits_printer),
        closed_sections=closed, warnings=tuple(warnings), layers=tuple(layers),
    )


__all__ = ["DEFAULT_PRINTER", "SlicerProfile", "LayerStats", "SliceEstimate", "slice_mesh", "layer_regions"]
