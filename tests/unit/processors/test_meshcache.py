"""Parse once: the stored parsed form gives the same results, byte for byte, as parsing."""
from __future__ import annotations

import json

import pytest

from processors import meshcache
from processors.errors import CorruptMeshError, MeshTooLargeError
from processors.loading import Limits, load_mesh
from processors.metadata import technical_metadata
from processors.metamodel import detect_bodies
from processors.print_analysis import analyze_print
from processors.samples import sample_models
from processors.thumbnails import standard_views, turntable

GOOD = [k for k in sample_models() if k != "corrupt.stl"]


@pytest.mark.parametrize("key", GOOD)
def test_decoded_form_gives_identical_results(key):
    parsed = load_mesh(sample_models()[key], key)
    cached = meshcache.decode(meshcache.encode(parsed))
    assert (cached.mesh.vertices == parsed.mesh.vertices).all() and (cached.mesh.faces == parsed.mesh.faces).all()
    assert (cached.format, cached.units, cached.units_source, cached.sha256, cached.source_bytes) == \
        (parsed.format, parsed.units, parsed.units_source, parsed.sha256, parsed.source_bytes)
    dump = lambda x: json.dumps(x, sort_keys=True, default=str)  # noqa: E731
    assert dump(technical_metadata(cached).to_dict()) == dump(technical_metadata(parsed).to_dict())
    assert dump(analyze_print(cached).to_dict()) == dump(analyze_print(parsed).to_dict())
    bodies = (detect_bodies(cached, key), detect_bodies(parsed, key))
    assert dump(bodies[0].to_dict() if bodies[0] else None) == dump(bodies[1].to_dict() if bodies[1] else None)
    shots = [(s.name, s.png) for s in standard_views(cached) + turntable(cached, 4, 128)]
    assert shots == [(s.name, s.png) for s in standard_views(parsed) + turntable(parsed, 4, 128)]


def test_foreign_truncated_or_oversized_forms_are_refused():
    data = meshcache.encode(load_mesh(sample_models()["cube_10mm.stl"], "cube.stl"))
    with pytest.raises(CorruptMeshError):
        meshcache.decode(b"solid cube")
    with pytest.raises(CorruptMeshError, match="truncated"):
        meshcache.decode(data[:-5])
    with pytest.raises(MeshTooLargeError):
        meshcache.decode(data, Limits(max_triangles=5))
