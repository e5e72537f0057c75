"""`meshstream analyze`: every processor on a local file, JSON out, typed errors, thumbnails."""
from __future__ import annotations

import argparse
import json

import pytest

from meshstream.commands import analyze
from processors.samples import write_samples


def run(capsys, *argv) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    analyze.register(parser.add_subparsers())
    args = parser.parse_args(["analyze", *argv])
    code = args.func(args)
    return code, capsys.readouterr().out


def test_json_covers_every_processor(tmp_path, capsys):
    write_samples(tmp_path)
    code, out = run(capsys, str(tmp_path / "cube_10mm.stl"), "--json", "--thumbnails", str(tmp_path / "png"))
    assert code == 0
    doc = json.loads(out)
    for key in ("metadata", "mesh_summary", "metamodel", "print_analysis", "sellability", "etsy_listing", "thumbnails"):
        assert key in doc
    assert abs(doc["mesh_summary"]["volume"] - 1000.0) < 1e-6
    assert len(doc["thumbnails"]) == 6 and (tmp_path / "png" / "cube_10mm_isometric_256.png").is_file()


def test_corrupt_file_is_a_typed_error(tmp_path, capsys):
    write_samples(tmp_path)
    code, out = run(capsys, str(tmp_path / "corrupt.stl"), "--json")
    assert code == 2
    assert json.loads(out)["error"]["code"] == "corrupt_mesh"


def test_text_output(tmp_path, capsys):
    write_samples(tmp_path)
    code, out = run(capsys, str(tmp_path / "torus.obj"))
    assert code == 0 and "watertight True" in out and "etsy:" in out


def test_a_folder_is_a_table_whose_counts_add_up(tmp_path, capsys):
    """`analyze DIR` (issue 22: it said "no such file"): one row per mesh file, failures included."""
    write_samples(tmp_path)
    (tmp_path / "notes.txt").write_text("not a mesh")
    code, out = run(capsys, str(tmp_path))
    lines = out.strip().splitlines()
    assert code == 2  # corrupt.stl fails; the others are analysed
    assert lines[-1] == "7 files, 6 analysed, 1 failed"
    rows = {line.split()[0]: line for line in lines[1:-1]}
    assert set(rows) == {"bracket/bracket_part_01.stl", "bracket/bracket_part_02.stl", "corrupt.stl", "cube_10mm.stl",
                         "cylinder.ply", "sphere_r5.stl", "torus.obj"}
    assert "10.0 x 10.0 x 10.0" in rows["cube_10mm.stl"] and "corrupt_mesh" in rows["corrupt.stl"]


def test_a_folder_with_json_is_one_line_per_file(tmp_path, capsys):
    write_samples(tmp_path)
    code, out = run(capsys, str(tmp_path), "--json")
    docs = [json.loads(line) for line in out.strip().splitlines()]
    assert len(docs) == 7
    by_name = {d["file"].rsplit("/", 1)[-1]: d for d in docs}
    assert abs(by_name["cube_10mm.stl"]["mesh_summary"]["volume"] - 1000.0) < 1e-6
    assert by_name["corrupt.stl"]["error"]["code"] == "corrupt_mesh"


def _vase_glb(path, height: float = 150.0):
    """A glTF whose numbers are millimetres (what many 3D-printing exporters write)."""
    import trimesh

    mesh = trimesh.creation.cylinder(radius=40.0, height=height, sections=32)
    path.write_bytes(mesh.export(file_type="glb"))
    return path


def test_gltf_is_metres_unless_units_say_otherwise(tmp_path, capsys):
    vase = _vase_glb(tmp_path / "vase.glb")
    code, out = run(capsys, str(vase), "--json")
    metres = json.loads(out)
    assert code == 0 and metres["units"] == {"units": "m", "source": "spec"}
    assert max(metres["print_analysis"]["extents_mm"]) == pytest.approx(150_000.0, rel=1e-6)
    assert not any(f["fits_reoriented"] for f in metres["print_analysis"]["bed_fit"])
    assert metres["slicing"] is None  # 750,000 layers of nonsense are not computed (minutes; it timed out)
    code, out = run(capsys, str(vase), "--json", "--units", "mm")
    mm = json.loads(out)
    assert code == 0 and mm["units"] == {"units": "mm", "source": "override"}
    assert max(mm["print_analysis"]["extents_mm"]) == pytest.approx(150.0, rel=1e-6)
    assert {f["printer"] for f in mm["print_analysis"]["bed_fit"] if f["fits"]} >= {"Prusa MK4", "Creality K1 Max"}
    assert mm["slicing"]["layer_count"] == 750  # 150 mm at 0.2 mm
    code, out = run(capsys, str(vase), "--json", "--units", "in")
    assert max(json.loads(out)["print_analysis"]["extents_mm"]) == pytest.approx(150.0 * 25.4, rel=1e-6)


def test_json_includes_the_slicing_estimate_for_the_default_printer(tmp_path, capsys):
    write_samples(tmp_path)
    code, out = run(capsys, str(tmp_path / "cube_10mm.stl"), "--json")
    assert code == 0
    s = json.loads(out)["slicing"]
    assert s["printer"] == "Prusa MK4" and s["fits_printer"] is True
    assert s["layer_count"] == 50  # 10 mm at 0.2 mm
    assert 0 < s["part_filament_volume_mm3"] < 1000.0  # 15 % infill: less than the solid 1,000 mm3
    assert s["filament_mass_g"] == pytest.approx(s["filament_volume_mm3"] / 1000 * 1.24)
    assert s["print_time_s"] > 0 and "layers" not in s
