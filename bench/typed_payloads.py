"""Per-event cost of typed payloads (the generated classes' `from_avro`) against the plain dict
decode the workers use, as ratios to fastavro's decode of the same bytes, measured in this run.

Run: .venv/bin/python bench/typed_payloads.py [--n 1000] [--repeats 9]

For each record: fastavro `schemaless_reader` to a dict (the baseline, = 1.00: what every
agent pays per event), `from_avro` on that dict (building the dataclasses, enums and aware
datetimes), the two together (a typed decode), `to_avro` (typed back to a dict, what a typed
publish adds before encoding), and the Python client's full `Serde.decode` (header, cached
schema id, constraint checks) next to the workers' `AvroSerde.decode`. ADR 0010 reads these
figures. Records: a terminal event as the orchestrator writes it (6 stage outcomes, 6 result
objects), a technical-metadata result, a discovery, an Etsy listing with every constrained
field filled (the contract tests' listing).
"""
from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import fastavro  # noqa: E402

from meshstream_client import Settings  # noqa: E402
from meshstream_client.generated import EVENTS  # noqa: E402
from meshstream_client.generated.contracts import CONTRACTS  # noqa: E402
from meshstream_client.serde import Serde  # noqa: E402
from registry.manifest import collect_named_types, default_manifest  # noqa: E402
from registry.serde import AvroSerde  # noqa: E402
from tests.unit.contracts.test_codegen import sample  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from serde import records as serde_records  # noqa: E402  (bench/serde.py's records)


def terminal_event() -> dict:
    contract = default_manifest().by_name("processing.completed")
    record = sample(contract.schema, collect_named_types(contract.schema))
    p = record["payload"]
    p["stages"] = [dict(p["stages"][0], stage=s) for s in ("download", "technical-metadata", "thumbnails",
                                                           "print-analysis", "sellability", "etsy-listing")]
    p["results"] = [dict(p["results"][0], key=f"results/m/{i}.json") for i in range(6)]
    return record


def per_event(fns: dict, n: int, repeats: int) -> dict[str, float]:
    """Seconds per call of each function: the best of `repeats` rounds, the functions taking
    turns within a round, so a busy neighbour slows them alike instead of skewing one."""
    best = {k: float("inf") for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            start = time.perf_counter()
            for _ in range(n):
                fn()
            best[k] = min(best[k], (time.perf_counter() - start) / n)
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1000, help="calls per timing")
    ap.add_argument("--repeats", type=int, default=9, help="rounds; the best is kept")
    args = ap.parse_args()
    recs = {"processing.completed": terminal_event(), **serde_records()}
    print(f"{'contract':30} {'decode µs':>9} {'from_avro':>9} {'typed dec':>9} {'to_avro':>8} "
          f"{'client Serde.decode':>19} {'worker AvroSerde.decode':>23}")
    for name, record in recs.items():
        info, contract, cls = CONTRACTS[name], default_manifest().by_name(name), EVENTS[name]
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, info.parsed_schema, record)
        body = buf.getvalue()
        client, worker = Serde(Settings()), AvroSerde(client=None)
        client._ids[info.subject], client._writers[1] = 1, info.parsed_schema
        worker._ids[contract.subject], worker._writers[1] = 1, contract.parsed_schema
        framed = b"\x00\x00\x00\x00\x01" + body
        decoded = fastavro.schemaless_reader(io.BytesIO(body), info.parsed_schema, None)
        typed = cls.from_avro(decoded)
        assert cls.from_avro(typed.to_avro()) == typed and client.decode(framed, info) == worker.decode(framed, contract)

        t = per_event({
            "decode": lambda: fastavro.schemaless_reader(io.BytesIO(body), info.parsed_schema, None),
            "from_avro": lambda: cls.from_avro(decoded),
            "typed": lambda: cls.from_avro(fastavro.schemaless_reader(io.BytesIO(body), info.parsed_schema, None)),
            "to_avro": typed.to_avro,
            "client": lambda: client.decode(framed, info),
            "worker": lambda: worker.decode(framed, contract),
        }, args.n, args.repeats)
        base = t["decode"]
        print(f"{name:30} {base * 1e6:9.1f} {t['from_avro'] / base:9.2f} {t['typed'] / base:9.2f} "
              f"{t['to_avro'] / base:8.2f} {t['client'] / base:19.2f} {t['worker'] / base:23.2f}")
    print("columns after the first: ratio to the dict decode of the same record in this run (1.00)")


if __name__ == "__main__":
    main()
