"""Slicing and fingerprint cost per model, as ratios to `trimesh.load` of the same file, and the
near-duplicate detector's precision/recall.

Run: .venv/bin/python bench/geometry_stages.py [--models 40] [--repeat 2] [--seed 1]

1. The bench set of bench/pipeline.py (N closed meshes of 600-12,000 triangles: spheres, tori,
   cylinders, capsules, boxes, randomly rotated), each written as binary STL. Per model, CPU
   seconds (process time, best of R) of: `trimesh.load(path)` [the baseline, same run, same
   file], `slice_mesh` (default profile, on the loaded mesh), `fingerprint` (on the loaded mesh)
   and the layer preview PNG. Prints median / 90th percentile / max of each ratio to the
   baseline, and the per-model CPU.
2. Precision / recall of `similarity >= THRESHOLD` on the 53-shape catalogue
   (processors/sample_shapes.py): positives = each shape vs a copy rotated, translated, scaled
   (0.25-4x) and subdivided, saved as STL, and the same copy saved as OBJ (2 per shape);
   negatives = every pair of distinct shapes, and each OBJ copy against every other shape.
   `--seed` picks the copies' poses (the unit test uses another seed). Also prints the lowest
   positive and highest negative score, and -- for information, not in the figures -- scores of
   shapes re-meshed at another resolution (a finer sphere/cylinder/torus: a different surface,
   not only a different triangulation).
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import trimesh  # noqa: E402

from pipeline import build_models  # noqa: E402  (bench/pipeline.py: the bench model set)
from processors.fingerprint import THRESHOLD, fingerprint, similarity  # noqa: E402
from processors.layer_preview import layer_preview_png  # noqa: E402
from processors.loading import load_mesh  # noqa: E402
from processors.sample_shapes import distinct_shapes  # noqa: E402
from processors.samples import binary_stl  # noqa: E402
from processors.slicing import slice_mesh  # noqa: E402


def cpu(fn, repeat: int):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.process_time()
        out = fn()
        best = min(best, time.process_time() - t)
    return best, out


def stage_costs(n: int, repeat: int) -> None:
    models = build_models(n)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for key, data in models.items():
            path = Path(tmp) / key.replace("/", "__")
            path.write_bytes(data)
            t_ref, _ = cpu(lambda: trimesh.load(str(path)), max(3, repeat))
            loaded = load_mesh(data, path.name)
            t_slice, est = cpu(lambda: slice_mesh(loaded), repeat)
            t_fp, _ = cpu(lambda: fingerprint(loaded), max(3, repeat))
            t_prev, _ = cpu(lambda: layer_preview_png(loaded), repeat)
            rows.append((key, len(loaded.mesh.faces), est.layer_count, t_ref, t_slice, t_fp, t_prev, est))
    ref = np.array([r[3] for r in rows])
    print(f"stage costs: {len(rows)} models (bench/pipeline.py set), CPU seconds best of {repeat}; {os.cpu_count()} CPUs")
    print(f"  triangles {min(r[1] for r in rows):,}-{max(r[1] for r in rows):,}, layers {min(r[2] for r in rows)}-{max(r[2] for r in rows)}")
    print(f"  {'stage':28} {'median s':>9} {'max s':>8} {'x load median':>14} {'x load p90':>11} {'x load max':>11}")
    print(f"  {'trimesh.load(path) [base]':28} {np.median(ref):9.4f} {ref.max():8.4f} {1.0:14.1f}")
    for name, col in (("slice_mesh (default profile)", 4), ("fingerprint", 5), ("layer preview PNG", 6)):
        t = np.array([r[col] for r in rows])
        ratio = t / ref
        print(f"  {name:28} {np.median(t):9.4f} {t.max():8.4f} {np.median(ratio):14.1f} {np.percentile(ratio, 90):11.1f} {ratio.max():11.1f}")
    per_layer = np.array([r[4] / max(1, r[2]) for r in rows]) * 1000
    print(f"  slicing per layer: median {np.median(per_layer):.2f} ms, max {per_layer.max():.2f} ms")
    est = rows[0][7]
    print(f"  e.g. {rows[0][0]}: {est.layer_count} layers, {est.filament_mass_g:.1f} g, ~{est.print_time_s / 60:.0f} min, "
          f"time split {', '.join(f'{k} {v / 60:.1f}' for k, v in est.time_breakdown_s.items() if v)} min")


def moved(mesh: trimesh.Trimesh, rng: np.random.Generator) -> trimesh.Trimesh:
    m = mesh.copy()
    t = trimesh.transformations.random_rotation_matrix(rng.random(3))
    t[:3, 3] = rng.uniform(-200, 200, 3)
    m.apply_transform(t)
    m.apply_scale(float(rng.uniform(0.25, 4.0)))
    return m.subdivide()


def obj_bytes(mesh: trimesh.Trimesh) -> bytes:
    return trimesh.exchange.obj.export_obj(mesh, include_normals=False, include_texture=False, header=None).encode()


def precision_recall(seed: int) -> None:
    rng = np.random.default_rng(seed)
    shapes = distinct_shapes()
    orig, copies = {}, {}
    t0 = time.process_time()
    for name, mesh in shapes.items():
        orig[name] = fingerprint(load_mesh(binary_stl(mesh), f"{name}.stl"))
        other = moved(mesh, rng)
        copies[name] = (fingerprint(load_mesh(binary_stl(other), "c.stl")), fingerprint(load_mesh(obj_bytes(other), "c.obj")))
    per_model = (time.process_time() - t0) / (3 * len(shapes))
    pos = [similarity(orig[n], c) for n in shapes for c in copies[n]]
    neg = []
    for a, b in itertools.combinations(shapes, 2):
        neg += [similarity(orig[a], orig[b]), similarity(copies[a][1], orig[b])]
    pos, neg = np.array(pos), np.array(neg)
    tp, fn, fp = int((pos >= THRESHOLD).sum()), int((pos < THRESHOLD).sum()), int((neg >= THRESHOLD).sum())
    precision = tp / max(1, tp + fp)
    recall = tp / max(1, tp + fn)
    print(f"near duplicates: {len(shapes)} shapes, {pos.size} positive + {neg.size} negative pairs, threshold {THRESHOLD}, copies seed {seed}")
    print(f"  precision {precision:.3f}  recall {recall:.3f}  (TP {tp}, FN {fn}, FP {fp})")
    print(f"  lowest positive {pos.min():.3f} (median {np.median(pos):.3f}); highest negative {neg.max():.3f} (99th pct {np.percentile(neg, 99):.3f})")
    print(f"  load + fingerprint CPU per model {per_model * 1000:.1f} ms")
    remeshed = {
        "sphere ico 3 -> 5": (trimesh.creation.icosphere(subdivisions=3, radius=10), trimesh.creation.icosphere(subdivisions=5, radius=10)),
        "sphere ico -> uv": (trimesh.creation.icosphere(subdivisions=3, radius=10), trimesh.creation.uv_sphere(radius=10, count=[48, 48])),
        "cylinder 64 -> 160 sections": (trimesh.creation.cylinder(radius=10, height=35, sections=64), trimesh.creation.cylinder(radius=10, height=35, sections=160)),
        "cylinder 64 -> 24 sections": (trimesh.creation.cylinder(radius=10, height=35, sections=64), trimesh.creation.cylinder(radius=10, height=35, sections=24)),
        "torus 64x32 -> 128x64": (trimesh.creation.torus(20, 6, major_sections=64, minor_sections=32), trimesh.creation.torus(20, 6, major_sections=128, minor_sections=64)),
        "capsule 32 -> 64": (trimesh.creation.capsule(height=20, radius=5, count=[32, 32]), trimesh.creation.capsule(height=20, radius=5, count=[64, 64])),
    }
    print("  (information) re-meshed at another resolution: " + "; ".join(
        f"{k} {similarity(fingerprint(a), fingerprint(b)):.3f}" for k, (a, b) in remeshed.items()))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=40)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    stage_costs(args.models, args.repeat)
    precision_recall(args.seed)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
