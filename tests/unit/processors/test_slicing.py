"""Slicing estimate against parts whose layers, volumes and fit are known exactly."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
import trimesh
from PIL import Image

from processors.layer_preview import layer_preview_png
from processors.loading import load_mesh
from processors.slicing import DEFAULT_PRINTER, SlicerProfile, slice_mesh

from . import _meshes as M

FULL = SlicerProfile(infill_density=1.0)


def load(mesh):
    return load_mesh(M.stl(mesh), "m.stl")


def hollow_box(outer: float, wall: float) -> trimesh.Trimesh:
    """A closed box with a closed cubic cavity (inner surface inward-facing): the wall is `wall` thick."""
    cavity = M.box((outer - 2 * wall,) * 3)
    cavity.invert()
    return trimesh.util.concatenate([M.box((outer,) * 3), cavity])


def test_20mm_cube_at_02mm_has_100_layers_of_its_full_section():
    r = slice_mesh(load(M.box((20, 20, 20))))
    assert r.layer_count == 100 and len(r.layers) == 100
    assert r.layers[-1].z_mm == pytest.approx(20.0)
    assert all(layer.area_mm2 == pytest.approx(400.0) for layer in r.layers)
    assert all(layer.outline_length_mm == pytest.approx(80.0) for layer in r.layers)
    assert r.sliced_volume_mm3 == pytest.approx(8000.0)


def test_first_layer_height_is_honoured():
    r = slice_mesh(load(M.box((20, 20, 20))), SlicerProfile(first_layer_height_mm=0.3))
    assert r.layer_count == 1 + 99  # 0.3 + 98 x 0.2 = 19.9 < 20: one more layer reaches the top
    assert r.layers[0].height_mm == pytest.approx(0.3)


@pytest.mark.parametrize("mesh,volume", [
    (M.box((20, 20, 20)), 8000.0),
    (trimesh.creation.icosphere(subdivisions=4, radius=10.0), None),
    (M.parametric_torus(20.0, 5.0, 96, 48), None),
])
def test_filament_at_full_infill_is_the_solid_volume(mesh, volume):
    volume = volume or mesh.volume
    r = slice_mesh(load(mesh), FULL)
    assert r.part_filament_volume_mm3 == pytest.approx(volume, rel=0.03)
    assert r.sparse_infill_volume_mm3 == 0.0
    # and a sparse default infill uses clearly less
    assert slice_mesh(load(mesh)).part_filament_volume_mm3 < 0.8 * volume


def test_filament_mass_and_length_follow_the_material():
    r = slice_mesh(load(M.box((20, 20, 20))), FULL)
    assert r.filament_mass_g == pytest.approx(8000 / 1000 * 1.24)  # PLA 1.24 g/cm3
    assert r.filament_length_mm == pytest.approx(8000 / (np.pi * 0.875**2))  # 1.75 mm filament


def test_thin_walled_hollow_box_uses_its_wall_whatever_the_infill():
    # 0.8 mm walls are thinner than two 0.45 mm perimeters: the perimeters fill the wall, so the
    # filament is the wall's volume at any infill density, a fraction of the solid box's.
    mesh = hollow_box(20.0, 0.8)
    wall = 20.0**3 - 18.4**3
    sparse = slice_mesh(load(mesh)).part_filament_volume_mm3
    full = slice_mesh(load(mesh), FULL).part_filament_volume_mm3
    assert sparse == pytest.approx(wall, rel=0.03)
    assert full == pytest.approx(wall, rel=0.03)
    assert sparse < 0.7 * slice_mesh(load(M.box((20, 20, 20)))).part_filament_volume_mm3  # 2,876 mm3 solid at 15 %


@pytest.mark.parametrize("wall", [1.0, 2.0, 3.0])
def test_hollow_box_filament_tracks_its_wall(wall):
    mesh = hollow_box(20.0, wall)
    wall_volume = 20.0**3 - (20.0 - 2 * wall) ** 3
    full = slice_mesh(load(mesh), FULL)
    assert full.part_filament_volume_mm3 == pytest.approx(wall_volume, rel=0.03)
    sparse = slice_mesh(load(mesh))
    assert sparse.perimeter_volume_mm3 < sparse.part_filament_volume_mm3 <= full.part_filament_volume_mm3 * 1.0001


def test_too_big_for_some_printers_is_reported_per_printer():
    bar = slice_mesh(load(M.box((300, 40, 20))))
    fits = {f.printer: f.fits for f in bar.bed_fit}
    assert fits["Creality K1 Max"] is True  # 300 x 300 x 300
    assert not any(v for k, v in fits.items() if k != "Creality K1 Max")
    assert bar.printer == DEFAULT_PRINTER and bar.fits_printer is False
    assert any("does not fit the Prusa MK4" in w for w in bar.warnings)

    plate = slice_mesh(load(M.box((240, 200, 10))))
    fits = {f.printer: f.fits for f in plate.bed_fit}
    assert fits["Prusa MK4"] and fits["Bambu Lab X1/P1"] and fits["Creality K1 Max"]
    assert not fits["Prusa MINI+"] and not fits["Creality Ender 3"]  # 180 and 220 mm beds
    assert plate.fits_printer is True and plate.warnings == ()


def test_support_envelope_comes_from_the_overhang_analysis():
    table = trimesh.util.concatenate([M.box((4, 4, 10), (0, 0, 5)), M.box((20, 20, 2), (0, 0, 11))])
    r = slice_mesh(load(table))
    assert r.support_volume_mm3 == pytest.approx(4000.0)  # 400 mm2 overhang x 10 mm to the bed
    assert r.support_filament_volume_mm3 == pytest.approx(4000.0 * r.profile.support_density)
    assert r.time_breakdown_s["support"] > 0
    off = slice_mesh(load(table), SlicerProfile(support_material=False))
    assert off.support_filament_volume_mm3 == 0 and off.filament_volume_mm3 < r.filament_volume_mm3


def test_time_is_acceleration_aware():
    cube = load(M.box((20, 20, 20)))
    same_speed = dict(external_perimeter_speed=50.0, perimeter_speed=50.0, first_layer_speed=50.0, min_layer_time_s=0.0)
    instant = SlicerProfile(**same_speed, perimeter_acceleration=1e9, first_layer_acceleration=1e9)
    r = slice_mesh(cube, instant)
    path = sum(layer.perimeter_path_mm for layer in r.layers)
    assert r.time_breakdown_s["perimeters"] == pytest.approx(path / 50.0, rel=1e-3)  # length / speed
    slow = slice_mesh(cube, SlicerProfile(**same_speed))
    assert slow.time_breakdown_s["perimeters"] > 1.05 * path / 50.0  # corners and ramps cost time


def test_per_layer_figures_add_up_and_serialise():
    r = slice_mesh(load(trimesh.creation.icosphere(subdivisions=3, radius=10.0)))
    doc = json.loads(json.dumps(r.to_dict()))
    assert len(doc["layers"]) == r.layer_count
    assert sum(layer["filament_volume_mm3"] for layer in doc["layers"]) == pytest.approx(r.part_filament_volume_mm3)
    assert sum(layer["time_s"] for layer in doc["layers"]) + r.time_breakdown_s["support"] == pytest.approx(r.print_time_s)
    assert r.filament_volume_mm3 == pytest.approx(r.part_filament_volume_mm3 + r.support_filament_volume_mm3)
    assert "layers" not in r.summary() and r.summary()["profile"]["layer_height_mm"] == 0.2


def test_layer_preview_shows_outline_infill_and_top_skin():
    png, picks = layer_preview_png(load(M.box((20, 20, 20))), size=256)
    img = np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)
    assert img.shape == (256, 256, 3) and picks == [24, 49, 74, 99]
    # panel 0 (layer 25): 128 px cell, 6 px margin, 116 px for 20 mm; outline at x = 6 and 122
    column = img[40:110, 6]
    assert (column.sum(axis=1) < 150).mean() > 0.9  # dark outline pixels along the left edge
    inside = img[30:100, 40:90]
    orange = (inside[..., 0] > 200) & (inside[..., 1] > 110) & (inside[..., 1] < 170) & (inside[..., 2] < 80)
    assert orange.any()  # sparse infill inside
    top = img[128 + 30:128 + 100, 128 + 40:128 + 90]  # panel 3: the top layer is solid skin
    red = (top[..., 0] > 170) & (top[..., 1] < 90) & (top[..., 2] < 90)
    assert red.mean() > 0.2
    assert (img[126, 10:120] > 240).all()  # margin below the part is white


def test_profile_rejects_nonsense():
    with pytest.raises(ValueError):
        SlicerProfile(infill_pattern="gyroid")  # not modelled: refuse rather than time it as lines
    with pytest.raises(ValueError):
        SlicerProfile(layer_height_mm=0.0)
    with pytest.raises(ValueError):
        SlicerProfile(infill_density=1.5)
