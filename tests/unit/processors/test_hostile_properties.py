"""Property tests: whatever the bytes, the result is a LoadedMesh or a ProcessingError, quickly."""
from __future__ import annotations

import os
import time

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from processors.errors import ProcessingError
from processors.loading import Limits, LoadedMesh, load_mesh
from processors.metadata import analyze_bytes
from processors.samples import sample_models

from . import _meshes as M

SAMPLES = sample_models()
SEEDS = [SAMPLES["cube_10mm.stl"], SAMPLES["torus.obj"], SAMPLES["cylinder.ply"], M.ascii_stl(M.box()), M.glb(M.box()), M.threemf(M.box())]
NAMES = st.sampled_from([None, "m.stl", "m.obj", "m.ply", "m.glb", "m.gltf", "m.3mf", "m.txt", "noext"])
LIMITS = Limits(max_bytes=1 << 20, max_triangles=100_000)
# MESHSTREAM_FUZZ_EXAMPLES=5000 for a longer local fuzzing session
N = int(os.environ.get("MESHSTREAM_FUZZ_EXAMPLES", "200"))


def _outcome(data: bytes, name):
    t = time.perf_counter()
    try:
        result = analyze_bytes(data, name, LIMITS)
    except ProcessingError as exc:
        assert exc.code and str(exc)
        result = exc
    assert time.perf_counter() - t < 5.0
    return result


@settings(max_examples=N + 100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=2048), name=NAMES)
def test_random_bytes_never_escape_the_typed_errors(data, name):
    _outcome(data, name)


PREFIXES = st.sampled_from([b"solid x\nfacet normal ", b"ply\nformat ascii 1.0\n", b"glTF", b"PK\x03\x04", b"v 1 2 3\nf ", b'{"asset":'])


@settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(prefix=PREFIXES, rest=st.binary(max_size=1024), name=NAMES)
def test_format_magic_followed_by_garbage(prefix, rest, name):
    _outcome(prefix + rest, name)


@settings(max_examples=N, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.sampled_from(range(len(SEEDS))),
    cut=st.floats(0, 1),
    flips=st.lists(st.tuples(st.floats(0, 1), st.integers(0, 255)), max_size=8),
    name=NAMES,
)
@example(seed=1, cut=1.0, flips=[(0.5, 10)], name=None)  # found by hypothesis: OBJ giving (n, 2) vertices
def test_mutated_real_files(seed, cut, flips, name):
    data = bytearray(SEEDS[seed])
    for where, value in flips:
        data[int(where * (len(data) - 1))] = value
    data = bytes(data[: max(1, int(cut * len(data)))]) if cut < 0.98 else bytes(data)
    out = _outcome(data, name)
    assert isinstance(out, (ProcessingError,)) or out.triangles > 0


def test_loaded_mesh_type():
    assert isinstance(load_mesh(SAMPLES["cube_10mm.stl"]), LoadedMesh)
