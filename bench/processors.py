"""Benchmark the processors on a 1M-triangle mesh made in the run.

Run: .venv/bin/python bench/processors.py [--triangles N] [--repeat R]

Prints, for a closed torus grid of N triangles written as binary STL to a temp file:
  plain `trimesh.load(path)` (the reference), then load+metadata, metadata alone, print
  analysis, and a 256 px thumbnail, each as the best of R runs and as a ratio to the reference
  measured in the same run. Targets (issue 4): metadata under 1 s and within 3x of loading;
  a 256 px thumbnail under 0.5 s. Performance claims live here, never in timed unit tests.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import trimesh  # noqa: E402

from processors.loading import load_mesh  # noqa: E402
from processors.metadata import technical_metadata  # noqa: E402
from processors.print_analysis import analyze_print  # noqa: E402
from processors.samples import binary_stl  # noqa: E402
from processors.thumbnails import render  # noqa: E402


def torus(triangles: int, R: float = 30.0, r: float = 10.0) -> trimesh.Trimesh:
    nv = max(3, int(round(np.sqrt(triangles / 4))))
    nu = max(3, triangles // (2 * nv))
    u = np.linspace(0, 2 * np.pi, nu, endpoint=False)
    v = np.linspace(0, 2 * np.pi, nv, endpoint=False)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    pts = np.stack([(R + r * np.cos(vv)) * np.cos(uu), (R + r * np.cos(vv)) * np.sin(uu), r * np.sin(vv)], -1)
    i, j = np.arange(nu)[:, None], np.arange(nv)[None, :]
    a, b = i * nv + j, ((i + 1) % nu) * nv + j
    c, d = ((i + 1) % nu) * nv + (j + 1) % nv, i * nv + (j + 1) % nv
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    return trimesh.Trimesh(pts.reshape(-1, 3), faces, process=False)


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t)
    return min(times), out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--triangles", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()

    mesh = torus(args.triangles)
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "bench.stl")
        Path(path).write_bytes(binary_stl(mesh))
        size = os.path.getsize(path)
        print(f"mesh: {len(mesh.faces):,} triangles, binary STL {size / 1e6:.1f} MB; best of {args.repeat}; {os.cpu_count()} CPUs")

        t_ref, ref = best(lambda: trimesh.load(path), args.repeat)
        data = Path(path).read_bytes()
        t_load, loaded = best(lambda: load_mesh(data, "bench.stl"), args.repeat)
        t_meta, meta = best(lambda: technical_metadata(loaded), args.repeat)
        t_both, _ = best(lambda: technical_metadata(load_mesh(Path(path).read_bytes(), "bench.stl")), args.repeat)
        t_print, prints = best(lambda: analyze_print(loaded, meta), args.repeat)
        t_thumb, png = best(lambda: render(loaded, "isometric", 256), args.repeat)
        t_thumb512, _ = best(lambda: render(loaded, "isometric", 512), args.repeat)

    assert meta.watertight and meta.bodies == 1 and len(ref.faces) == meta.triangles
    rows = [
        ("trimesh.load(path)  [reference]", t_ref, None),
        ("meshstream load_mesh(bytes)", t_load, None),
        ("technical metadata (on loaded mesh)", t_meta, None),
        ("metadata end to end (read+load+measure)", t_both, "target < 1 s and <= 3x reference"),
        ("print analysis (on loaded mesh)", t_print, None),
        ("thumbnail isometric 256 px", t_thumb, "target < 0.5 s"),
        ("thumbnail isometric 512 px", t_thumb512, None),
    ]
    print(f"{'step':44} {'seconds':>8} {'x trimesh.load':>15}")
    for name, t, note in rows:
        print(f"{name:44} {t:8.3f} {t / t_ref:15.2f}" + (f"   {note}" if note else ""))
    ok_meta = t_both < 1.0 and t_both <= 3 * t_ref
    ok_thumb = t_thumb < 0.5
    print(f"metadata target {'met' if ok_meta else 'MISSED'}; thumbnail target {'met' if ok_thumb else 'MISSED'}; "
          f"volume {meta.volume:.1f} mm3, print score {prints.score}, png {len(png)} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
