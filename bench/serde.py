"""Per-event costs of the event path, as ratios to fastavro's own encode of the same record.

Run: .venv/bin/python bench/serde.py [--n 5000]

For a few real contracts (a discovery, a technical-metadata result, an Etsy listing with every
constrained field filled, as the contract tests build it), measured in this run: fastavro encode (the baseline, = 1.00), fastavro
decode, our constraint check, the full `AvroSerde.encode`/`decode` (header, cached schema id,
constraint checks on both sides), and a state machine transition. Without a registry: the
schema id is the one cached after the first registration, which is what every event after the
first pays (no HTTP per message).

Why a bench and not a unit test: timings on these shared machines are noise in a test; here they
are printed as ratios against a baseline measured in the same run.
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fastavro  # noqa: E402

from registry import constraints  # noqa: E402
from registry.manifest import default_manifest  # noqa: E402
from registry.serde import AvroSerde  # noqa: E402
from streams.core.envelope import envelope  # noqa: E402

FILES = [{"storage": "default", "bucket": "models", "key": "lib/dragon/dragon.stl", "etag": "0" * 32, "size_bytes": 684_284}]


def records() -> dict[str, dict]:
    env = envelope("bench", "corr")
    run = {"run_id": "r" * 36, "model_id": "m" * 40}
    metadata = {"format": "stl", "vertices": 50_000, "triangles": 100_000, "bbox_min": [-10.0, -10.0, 0.0],
                "bbox_max": [10.0, 10.0, 30.0], "volume": 1000.0, "surface_area": 600.0, "watertight": True,
                "winding_consistent": True, "bodies": 1, "degenerate_faces": 0, "content_sha256": "0" * 64}
    from tests.unit.contracts.test_constraints import etsy_event  # the contract tests' listing

    return {
        "discovery.discovered": {"envelope": env, "payload": {**run, "scan_id": "s" * 36, "name": "dragon",
                                                              "folder": "lib/dragon", "workflow": "standard",
                                                              "files": FILES, "owner_id": "o", "collection_id": None,
                                                              "options": None}},
        "technical-metadata.completed": {"envelope": env, "payload": {**run, "files": FILES, "metadata": metadata,
                                                                      "result": FILES[0]}},
        "etsy-listing.completed": etsy_event(title="t" * 140, tags=[f"tag {i}" for i in range(13)]),
    }


class _CachedIds:
    """A registry client that is never called: AvroSerde's id cache is filled up front."""

    def __getattr__(self, name):
        raise AssertionError(f"registry called ({name}): the id cache should answer")


def per_call(fn, n: int) -> float:
    fn()
    best = float("inf")
    for _ in range(3):
        start = time.perf_counter()
        for _ in range(n):
            fn()
        best = min(best, (time.perf_counter() - start) / n)
    return best


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=5000)
    args = ap.parse_args()
    manifest = default_manifest()
    serde = AvroSerde(_CachedIds())
    print(f"{'contract':32s} {'avro enc':>9s} {'avro dec':>9s} {'check':>7s} {'serde enc':>10s} {'serde dec':>10s}   (x fastavro encode; its us)")
    for name, record in records().items():
        contract = manifest.by_name(name)
        try:
            constraints.check_record(contract.schema, record)
            body = io.BytesIO()
            fastavro.schemaless_writer(body, contract.parsed_schema, record)
        except Exception as exc:  # noqa: BLE001 - a record that no longer fits its contract: say so
            print(f"{name:32s} skipped: {type(exc).__name__}: {str(exc)[:120]}")
            continue
        serde._ids[contract.subject] = 1
        serde._writers[1] = contract.parsed_schema
        wire = serde.encode(contract, record)
        base = per_call(lambda: fastavro.schemaless_writer(io.BytesIO(), contract.parsed_schema, record), args.n)
        figures = [
            base,
            per_call(lambda: fastavro.schemaless_reader(io.BytesIO(body.getvalue()), contract.parsed_schema,
                                                        contract.parsed_schema), args.n),
            per_call(lambda: constraints.check_record(contract.schema, record), args.n),
            per_call(lambda: serde.encode(contract, record), args.n),
            per_call(lambda: serde.decode(wire, contract), args.n),
        ]
        print(f"{name:32s} " + " ".join(f"{f / base:9.2f}" for f in figures[:3])
              + f" {figures[3] / base:10.2f} {figures[4] / base:10.2f}   ({base * 1e6:.1f} us)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
