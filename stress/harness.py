"""Feed hostile inputs to a running stack + worker and classify every outcome.

Why separate from the generator: this is the only part that talks to Kafka, the registry and S3
(real ones: `make stress` starts a private stack, the integration test uses the session stack).
Each input is traced by a key of its own: file inputs become a discovered model with a unique
run id, so their terminal event is found by run id; record inputs carry a unique Kafka key, so
their dead letter is found by `original_key`. An input with no outcome before the deadline is
reported as `missing` (a stall), which counts as unexpected.
"""
from __future__ import annotations

import io
import struct
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

from confluent_kafka import Consumer, Producer

from registry.manifest import default_manifest
from registry.serde import AvroSerde, registry_client
from streams.client import producer_config
from streams.core.security import kafka_client_config
from streams.core.envelope import envelope
from stress.hostile import HostileInput

TERMINAL = {"processing.completed": "completed", "processing.failed": "failed"}


@dataclass
class Report:
    tried: int = 0
    outcomes: Counter = field(default_factory=Counter)        # "failed:<code>", "dead_letter:<code>", ...
    by_category: dict = field(default_factory=dict)
    unexpected: list = field(default_factory=list)            # (input ident, category, outcome)
    upload_refused: int = 0
    seconds: float = 0.0

    def lines(self) -> list[str]:
        kinds = Counter(o.split(":")[0] for o in self.outcomes.elements())
        out = [f"inputs tried: {self.tried}  ({self.upload_refused} keys refused by S3 at upload, still published)",
               f"failed runs: {kinds['failed']}  dead letters: {kinds['dead_letter']}  completed runs: {kinds['completed']}  "
               f"missing (no outcome): {kinds['missing']}",
               "by outcome and code:"]
        out += [f"  {n:6d}  {o}" for o, n in sorted(self.outcomes.items(), key=lambda kv: (-kv[1], kv[0]))]
        out.append(f"unexpected outcomes: {len(self.unexpected)}")
        out += [f"  {i} {c}: {o}" for i, c, o in self.unexpected[:40]]
        out.append(f"time to all outcomes: {self.seconds:.1f} s")
        return out


class Harness:
    def __init__(self, settings, s3, bucket: str = "stress"):
        self.settings, self.s3, self.bucket = settings, s3, bucket
        self.manifest = default_manifest()
        self.serde = AvroSerde(registry_client(settings))
        self.raw = AvroSerde(registry_client(settings), validate=False)  # to encode constraint breakers
        self.producer = Producer({**producer_config(settings), "message.max.bytes": 2_000_000})
        self.run = uuid.uuid4().hex[:8]

    # -- feeding -----------------------------------------------------------------------------
    def _upload(self, inp: HostileInput) -> str | None:
        key = f"{self.run}/{inp.key}"
        try:
            self.s3.put_object(self.bucket, key, io.BytesIO(inp.data), len(inp.data))
        except Exception as exc:  # noqa: BLE001 - a refused key is an outcome of its own, recorded
            inp.notes["upload_refused"] = f"{type(exc).__name__}: {exc}"[:200]
        return key

    def _file_event(self, inp: HostileInput, key: str) -> tuple[str, bytes]:
        run_id = f"{self.run}-{inp.ident}"
        inp.notes["trace"] = run_id
        payload = {"scan_id": f"stress-{self.run}", "run_id": run_id, "model_id": f"{self.run}{inp.ident}", "name": inp.category,
                   "folder": key.rsplit("/", 1)[0], "workflow": "minimal", "owner_id": None,
                   "files": [{"storage": "default", "bucket": self.bucket, "key": key, "etag": None,
                              "size_bytes": len(inp.data)}]}
        contract = self.manifest.by_name("discovery.discovered")
        env = envelope("stress", run_id)
        return run_id, self.serde.encode(contract, {"envelope": env, "payload": payload})

    def _record_value(self, inp: HostileInput, ids: dict[str, int]) -> bytes:
        contract = self.manifest.by_name(inp.contract)
        if inp.payload is not None:
            env = envelope("stress", inp.record_key.decode(errors="replace"))
            return self.raw.encode(contract, {"envelope": env, "payload": inp.payload})
        which = inp.notes.get("schema_id")
        if which == "schema-id:foreign":
            other = next(n for n in ids if n != inp.contract)
            return b"\x00" + struct.pack(">I", ids[other]) + inp.data[:0] + b"\x02\x04\x06garbage"
        if which == "schema-id:own-garbage":
            return b"\x00" + struct.pack(">I", ids[inp.contract]) + b"\xff" * 17
        return inp.data

    def feed(self, inputs: list[HostileInput]) -> dict[bytes, HostileInput]:
        """Upload and publish every input; returns trace key -> input."""
        if not self.s3.bucket_exists(self.bucket):
            self.s3.make_bucket(self.bucket)
        ids = {c.name: self.serde.schema_id(c) for c in self.manifest.active}
        traces: dict[bytes, HostileInput] = {}
        for inp in inputs:
            if inp.kind == "file":
                run_id, value = self._file_event(inp, self._upload(inp))
                topic, key = self.manifest.by_name("discovery.discovered").topic, run_id.encode()
            else:
                topic, key, value = self.manifest.by_name(inp.contract).topic, inp.record_key, self._record_value(inp, ids)
                if inp.payload is not None and inp.contract == "download.requested":
                    inp.notes["trace"] = inp.payload["run_id"]
            traces[key] = inp
            while True:
                try:
                    self.producer.produce(topic, key=key, value=value)
                    break
                except BufferError:
                    self.producer.poll(0.5)
            self.producer.poll(0)
        if self.producer.flush(60):
            raise RuntimeError("stress inputs not all delivered to Kafka")
        return traces

    def close(self) -> None:
        self.producer.flush(10)
        del self.producer

    # -- observing ---------------------------------------------------------------------------
    def collect(self, traces: dict[bytes, HostileInput], timeout: float, alive=lambda: True) -> Report:
        """Read terminal events and dead letters until every input has an outcome (or timeout)."""
        start = time.monotonic()
        names = ("processing.completed", "processing.failed", "pipeline.dead-lettered")
        contracts = {self.manifest.by_name(n).topic: self.manifest.by_name(n) for n in names}
        by_run = {inp.notes["trace"]: key for key, inp in traces.items() if "trace" in inp.notes}
        outcome: dict[bytes, str] = {}
        consumer = Consumer({**kafka_client_config(self.settings), "group.id": f"stress-{self.run}",
                             "auto.offset.reset": "earliest", "enable.auto.commit": False})
        consumer.subscribe(list(contracts))
        try:
            while len(outcome) < len(traces) and time.monotonic() - start < timeout and alive():
                msg = consumer.poll(0.5)
                if msg is None or msg.error():
                    continue
                contract = contracts[msg.topic()]
                rec = self.serde.decode(msg.value(), contract)["payload"]
                if contract.name == "pipeline.dead-lettered":
                    key = rec["original_key"]
                    if key not in traces:
                        key = by_run.get((key or b"").decode(errors="replace"))
                    if key is not None and key not in outcome:
                        outcome[key] = f"dead_letter:{rec['error']['code']}"
                else:
                    key = by_run.get(rec["run_id"])
                    if key is not None and key not in outcome:
                        kind = TERMINAL[contract.name]
                        outcome[key] = kind if kind == "completed" else f"failed:{rec['error']['code']}"
        finally:
            consumer.close()
        report = Report(tried=len(traces), seconds=time.monotonic() - start)
        for key, inp in traces.items():
            got = outcome.get(key, "missing")
            report.outcomes[got] += 1
            report.by_category.setdefault(inp.category, Counter())[got] += 1
            report.upload_refused += "upload_refused" in inp.notes
            if not inp.accepts(got):
                report.unexpected.append((inp.ident, inp.category, got))
        return report
