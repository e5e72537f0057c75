"""Discovery grouping, manifests, and multi-file models measured as one assembly."""
from __future__ import annotations

import json
import random

import pytest

from processors.discovery import (
    StoredObject,
    build_manifest,
    collections,
    group_models,
    model_id_for,
    needs_manifest,
    read_manifest,
)
from processors.errors import CorruptMeshError, MeshTooLargeError
from processors.loading import Limits
from processors.model import measure_model
from processors.naming import part_name
from processors.samples import sample_models


def objs(*keys, etag="e1"):
    return [StoredObject(k, etag, 100) for k in keys]


def test_samples_group_into_six_models():
    models = group_models([StoredObject(k, "e", len(v)) for k, v in sample_models().items()])
    names = sorted(m.name for m in models)
    assert names == ["bracket", "corrupt", "cube_10mm", "cylinder", "sphere_r5", "torus"]
    bracket = next(m for m in models if m.name == "bracket")
    assert bracket.multi_part and [f.key for f in bracket.files] == ["bracket/bracket_part_01.stl", "bracket/bracket_part_02.stl"]


def test_non_mesh_files_are_ignored():
    models = group_models(objs("a/readme.txt", "a/photo.png", "a/model.mtl", "a/.hidden.stl", "a/thing.STL"))
    assert [m.name for m in models] == ["thing"]


@pytest.mark.parametrize(
    "keys, groups",
    [
        (["f/dragon_base.stl", "f/dragon_top.stl", "f/vase.stl"], [["f/dragon_base.stl", "f/dragon_top.stl"], ["f/vase.stl"]]),
        (["f/part1.stl", "f/part2.stl", "f/part3.stl"], [["f/part1.stl", "f/part2.stl", "f/part3.stl"]]),
        (["f/top.stl", "f/base.stl"], [["f/base.stl", "f/top.stl"]]),
        (["f/gear 1 of 2.3mf", "f/gear 2 of 2.3mf"], [["f/gear 1 of 2.3mf", "f/gear 2 of 2.3mf"]]),
        (["f/cube_10mm.stl", "f/cube_20mm.stl"], [["f/cube_10mm.stl"], ["f/cube_20mm.stl"]]),
        (["a/part_01.stl", "b/part_02.stl"], [["a/part_01.stl"], ["b/part_02.stl"]]),  # folders separate
    ],
)
def test_folder_aware_grouping(keys, groups):
    got = sorted([f.key for f in m.files] for m in group_models(objs(*keys)))
    assert got == sorted(groups)


def test_part_names():
    assert part_name("x/bracket_part_01.stl").key == "bracket"
    assert part_name("dragon_top.obj").marker == "role:top"
    assert part_name("benchy.stl").marker is None


def test_model_ids_are_deterministic_and_version_sensitive():
    keys = [f"shelf/item_{i:03d}.stl" for i in range(30)] + ["x/a_part_1.stl", "x/a_part_2.stl"]
    listing = objs(*keys)
    shuffled = listing[:]
    random.Random(1).shuffle(shuffled)
    a, b = group_models(listing), group_models(shuffled)
    assert [m.model_id for m in a] == [m.model_id for m in b]
    assert len({m.model_id for m in a}) == len(a)
    changed = group_models(objs(*keys[:1], etag="e2"))
    assert changed[0].model_id != next(m for m in a if m.files[0].key == keys[0]).model_id
    assert model_id_for(listing[:2]) == model_id_for(listing[1::-1])


def test_collections_per_folder():
    models = group_models(objs("a/x.stl", "a/y.stl", "b/z.stl"))
    cols = collections(models)
    assert [c.folder for c in cols] == ["a", "b"]
    assert len(cols[0].model_ids) == 2 and all(m.collection_id for m in models)


def test_manifest_roundtrip_and_threshold():
    models = group_models(objs(*[f"big/m{i}.stl" for i in range(250)]))
    assert needs_manifest(250, 100) and not needs_manifest(100, 100)
    data = build_manifest(models, bucket="models", prefix="big/")
    assert data == build_manifest(list(models), bucket="models", prefix="big/")
    doc = json.loads(data)
    assert doc["model_count"] == 250 and doc["file_count"] == 250
    assert read_manifest(data) == models


def test_single_file_model_equals_its_file():
    s = sample_models()
    md = measure_model([("cube_10mm.stl", s["cube_10mm.stl"])])
    assert md.metadata.volume == pytest.approx(1000.0)
    assert md.summary()["content_sha256"] == md.parts[0].metadata.content_sha256
    json.dumps(md.as_dict())


def test_two_part_model_is_one_assembly():
    s = sample_models()
    files = [(k, s[k]) for k in ("bracket/bracket_part_02.stl", "bracket/bracket_part_01.stl")]
    md = measure_model(files)
    assert md.metadata.triangles == 24 and md.metadata.bodies == 2
    assert md.metadata.volume == pytest.approx(40 * 20 * 4 + 4 * 20 * 30)
    assert [p.key for p in md.parts] == ["bracket/bracket_part_01.stl", "bracket/bracket_part_02.stl"]
    assert measure_model(files[::-1]).metadata.content_sha256 == md.metadata.content_sha256


def test_model_errors_name_the_file():
    s = sample_models()
    with pytest.raises(CorruptMeshError, match="^corrupt.stl: ") as err:
        measure_model([("cube_10mm.stl", s["cube_10mm.stl"]), ("corrupt.stl", s["corrupt.stl"])])
    assert err.value.code == "corrupt_mesh"
    with pytest.raises(MeshTooLargeError, match="across its files"):
        measure_model([("a.stl", s["cube_10mm.stl"]), ("b.stl", s["cube_10mm.stl"])], Limits(max_triangles=20))
