"""What processor slots cost in memory: a pool process's peak RSS with 1, 2 and 4 slots on large meshes.

Run: .venv/bin/python bench/slot_memory.py [--models 8] [--triangles 500000] [--slots 1 2 4]

A pool process runs up to MESHSTREAM_PROCESSOR_SLOTS steps at once (streams/execution/turns.py),
so it may hold as many steps' meshes, z-buffers and results at the same time. This scans
--models tori of about --triangles triangles each (binary STL) through the standard workflow,
one worker, once per slots value, and prints the peak resident set (VmHWM, /proc) of each of the
worker's child processes (its pool processes, and the small helpers multiprocessing starts beside
them) when the batch is done, the wall of the batch, and each value's largest
pool peak as a ratio to the first value's, measured in the same run. The pool processes start
fresh for each value, so a peak is that batch's.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import sys
import tempfile
from pathlib import Path

import trimesh

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import pipeline  # noqa: E402


def large_models(n: int, triangles: int) -> dict[str, bytes]:
    """N binary-STL tori of about `triangles` triangles, each in its own folder."""
    sections = max(8, int((triangles / 2) ** 0.5))
    out = {}
    for i in range(n):
        mesh = trimesh.creation.torus(20.0 + i, 5.0, major_sections=sections, minor_sections=sections + i)
        buf = io.BytesIO()
        mesh.export(buf, file_type="stl")
        out[f"large-{i:02d}/torus.stl"] = buf.getvalue()
    return out


def peak_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=8)
    ap.add_argument("--triangles", type=int, default=500_000)
    ap.add_argument("--slots", type=int, nargs="+", default=[1, 2, 4])
    args = ap.parse_args()
    models = large_models(args.models, args.triangles)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-slot-memory-"))
    peaks: list[int] = []

    @contextlib.contextmanager
    def recording_peaks(env: dict, workers: list[dict], log_dir: Path):
        with pipeline.started_workers(env, workers, log_dir) as procs:
            yield procs
            # the batch is done: read each pool process's peak before the worker stops them
            peaks[:] = [peak_kib(pid) for pid in pipeline.tree_pids(procs[0].proc.pid)[1:]]

    size_mib = sum(len(v) for v in models.values()) / args.models / 2**20
    print(f"{args.models} tori of about {args.triangles:,} triangles ({size_mib:.0f} MiB of STL each), standard workflow, "
          f"one worker; logs in {log_dir}")
    first = None
    for slots in args.slots:
        run = pipeline.run_pipeline(models, "standard", [{"env": {"MESHSTREAM_PROCESSOR_SLOTS": str(slots)}}], log_dir,
                                     start_workers=recording_peaks)
        top = max(peaks)
        first = first or top
        print(f"slots {slots}: child processes' peak RSS {', '.join(f'{p / 1024:.0f}' for p in sorted(peaks))} MiB "
              f"(largest {top / first:.2f}x slots {args.slots[0]}), wall {run['wall']:.1f} s, "
              f"runs {run['runs']} ({run['failed']} failed)", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
