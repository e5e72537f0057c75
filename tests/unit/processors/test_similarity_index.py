"""The near-duplicate index's cells answer exactly what comparing against every model would."""
from __future__ import annotations

import collections
import math

import numpy as np
import pytest

from processors.fingerprint import THRESHOLD, Fingerprint, fingerprint, similarity
from processors.loading import load_mesh
from processors.sample_shapes import distinct_shapes
from processors.similarity_index import (CELL, IndexedModel, cells_within_reach, near_duplicates, own_cell, reach)

from . import _meshes as M
from .test_fingerprint import moved


def _random_fingerprint(rng, ratios=None) -> Fingerprint:
    def hist(n):
        h = rng.dirichlet(np.full(n, 5.0))
        return tuple(float(x) for x in h)
    r2 = float(rng.uniform(0.05, 1.0)) if ratios is None else ratios[0]
    r3 = float(rng.uniform(0.0, r2)) if ratios is None else ratios[1]
    return Fingerprint(hist(32), hist(16), hist(15), (r2, r3))


def _jitter(fp: Fingerprint, rng, size: float) -> Fingerprint:
    """A fingerprint near `fp`: histograms and ratios moved by up to `size` of their scale."""
    def move(h):
        h = np.clip(np.asarray(h) + rng.normal(0, size * 0.0015, len(h)), 0, None)
        return tuple(float(x) for x in h / h.sum())
    r = np.clip(np.asarray(fp.ratios) + rng.uniform(-size * 0.03, size * 0.03, 2), 0, 1)
    return Fingerprint(move(fp.d2), move(fp.d1), move(fp.an), (float(r[0]), float(r[1])))


def _index(models: list[IndexedModel]) -> dict[str, list[IndexedModel]]:
    cells = collections.defaultdict(list)
    for m in models:
        for c in cells_within_reach(m.fingerprint):
            cells[c].append(m)
    return cells


def test_reach_bounds_the_ratio_difference_of_any_pair_above_the_threshold():
    rng = np.random.default_rng(7)
    d = reach(THRESHOLD)
    assert math.isclose(d, 2 * 0.02 * math.log(2) / 0.25) and math.isclose(CELL, 2 * d)
    for _ in range(3000):
        a = _random_fingerprint(rng)
        b = _jitter(a, rng, float(rng.uniform(0, 8)))
        if similarity(a, b) >= THRESHOLD:
            assert max(abs(x - y) for x, y in zip(a.ratios, b.ratios)) <= d + 1e-12


def test_a_cell_lookup_equals_brute_force_over_every_model():
    """Clusters of near neighbours straddling cell borders: the own-cell lookup finds exactly the
    models (and scores) a comparison with every earlier model finds, never the model itself."""
    rng = np.random.default_rng(11)
    models = []
    for c in range(60):
        # cluster centres on and beside cell borders, where a naive one-cell index loses pairs
        centre = (min(1.0, CELL * rng.integers(1, 4) + rng.uniform(-0.02, 0.02)), float(rng.uniform(0.0, 0.3)))
        base = _random_fingerprint(rng, ratios=centre)
        for k in range(5):
            models.append(IndexedModel(f"m{c}-{k}", f"owner-{k % 2}", f"run-{c}-{k}", None, _jitter(base, rng, float(rng.uniform(0, 3)))))
    cells = _index(models)
    pairs_found = 0
    for q in models:
        indexed = near_duplicates(q, cells[own_cell(q.fingerprint)], THRESHOLD, limit=1000)
        brute = near_duplicates(q, models, THRESHOLD, limit=1000)
        assert indexed == brute, q.model_id
        assert all(m["model_id"] != q.model_id for m in indexed)
        pairs_found += len(indexed)
    straddling = sum(1 for q in models for m in near_duplicates(q, models, THRESHOLD, limit=1000)
                     if own_cell(q.fingerprint) != own_cell(next(x for x in models if x.model_id == m["model_id"]).fingerprint))
    assert pairs_found > 200 and straddling > 20, (pairs_found, straddling)  # the case the write-to-4-cells rule exists for


def test_a_moved_copy_from_another_owner_is_found_in_its_cell_and_says_so():
    shapes = distinct_shapes()
    rng = np.random.default_rng(3)
    library = [IndexedModel(name, "owner-a", f"run-{name}", name, fingerprint(load_mesh(M.stl(mesh), f"{name}.stl")))
               for name, mesh in shapes.items()]
    cells = _index(library)
    assert 1 <= max(len(cells_within_reach(m.fingerprint)) for m in library) <= 4
    for name in ("torus", "cube") if "cube" in shapes else list(shapes)[:2]:
        copy = moved(shapes[name], rng)
        q = IndexedModel(f"copy-{name}", "owner-b", "run-copy", None, fingerprint(load_mesh(M.obj(copy), "copy.obj")))
        found = near_duplicates(q, cells[own_cell(q.fingerprint)], THRESHOLD, limit=3)
        assert found and found[0]["model_id"] == name and found[0]["other_owner"] is True, (name, found)
        same_owner = IndexedModel(q.model_id, "owner-a", q.run_id, None, q.fingerprint)
        assert near_duplicates(same_owner, cells[own_cell(q.fingerprint)], THRESHOLD, limit=3)[0]["other_owner"] is False


def test_records_round_trip_and_a_threshold_below_the_cells_is_refused():
    fp = _random_fingerprint(np.random.default_rng(1))
    m = IndexedModel("m", None, "r", "name", fp)
    back = IndexedModel.from_record(m.to_record())
    assert back.model_id == "m" and similarity(back.fingerprint, fp) > 0.999
    with pytest.raises(ValueError):
        near_duplicates(m, [], threshold=0.3)
