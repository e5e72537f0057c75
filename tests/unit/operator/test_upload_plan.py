"""`meshstream upload DIR`: what goes where. The folder layout is kept under the prefix (discovery
groups a model's parts by folder), only mesh files are sent, hidden files are left alone."""
from __future__ import annotations

from meshstream.commands.upload import key_prefix, plan
from processors.discovery import StoredObject, group_models
from processors.samples import write_samples


def test_the_layout_is_kept_and_only_meshes_go(tmp_path):
    write_samples(tmp_path)
    (tmp_path / "README.txt").write_text("about these models")
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "x.stl").write_bytes(b"solid x\nendsolid x\n")
    files, skipped = plan(tmp_path)
    keys = [key for _, key in files]
    assert keys == sorted(keys)
    assert set(keys) == {"bracket/bracket_part_01.stl", "bracket/bracket_part_02.stl", "corrupt.stl",
                         "cube_10mm.stl", "cylinder.ply", "sphere_r5.stl", "torus.obj"}
    assert skipped == [tmp_path / "README.txt"]
    # the two bracket parts stay one model, as on disk: 6 models from 7 files
    models = group_models([StoredObject("in/" + k, "-", p.stat().st_size) for p, k in files])
    assert len(models) == 6
    assert [len(m.files) for m in models if m.folder == "in/bracket"] == [2]


def test_prefix_gets_one_trailing_slash():
    assert [key_prefix(p) for p in ("", "/", "first", "first/", "/a/b/")] == ["", "", "first/", "first/", "a/b/"]
