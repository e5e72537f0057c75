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
