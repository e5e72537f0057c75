"""Shared fakes for the in-memory pipeline: a recording Faust app, a strict fake runtime that
runs the real discovery, stage and orchestrator handlers, and realistic stage results.

Used by tests/unit/architecture/test_alignment.py (producers and consumers agree) and
tests/unit/worker/test_orchestrator_batches.py (the orchestrator's batches).
"""
from __future__ import annotations

import asyncio
import io
import json
import weakref
import zlib
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace

import fastavro
import faust.streams
from fastavro.validation import validate

from processors.discovery import StoredObject, group_models
from processors.fingerprint import Fingerprint
from processors.similarity_index import cells_within_reach, own_cell
from streams.core.settings import Settings
from registry.constraints import check_record
from registry.manifest import default_manifest
from streams.orchestration import workflow as wf
from streams.worker.agents import discovery as discovery_agent
from streams.worker.agents.orchestrator import Orchestrator
from streams.worker.app import AGENTS
from streams.execution.catalog import work_module
from streams.core.envelope import envelope
from streams.orchestration.request_builders import BUILDERS

MANIFEST = default_manifest()
FLOWS = wf.default_workflows()
ACTIVE_FLOWS = {name: flow for name, flow in FLOWS.items() if flow.status == "active"}
PLANNED_FLOWS = {name: flow for name, flow in FLOWS.items() if flow.status != "active"}
NOT_STAGES = ("discovery", "orchestrator")  # agents that are not a requested/completed/failed stage
STAGE_AGENTS = sorted(set(AGENTS) - set(NOT_STAGES))
KINDS = ("requested", "completed", "failed")
# every model of the fake library has this shape: each later one is a near duplicate of the earlier
FINGERPRINT = Fingerprint(tuple([1 / 32] * 32), tuple([1 / 16] * 16), tuple([1 / 15] * 15), (0.5, 0.25))

# Contracts no agent of this repository consumes and no active workflow uses, each for a reason.
# Adding a contract that lands here must be deliberate: update this table.
UNCONSUMED = {
    "processing.completed": "external: terminal event, read by the platform (`meshstream subscribe`)",
    "processing.failed": "external: terminal event, read by the platform",
    "pipeline.dead-lettered": "external: dead letters, read by operators",
}


def _lost(sent, read, path: str = "") -> list[str]:
    """Paths of `sent` that do not come back from Avro unchanged: fields the contract does not
    have (fastavro's writer silently drops them, even with strict validation), or altered values."""
    if isinstance(sent, dict):
        if not isinstance(read, dict):
            return [path or "."]
        return [p for k, v in sent.items()
                for p in ([f"{path}.{k}"] if k not in read else _lost(v, read[k], f"{path}.{k}"))]
    if isinstance(sent, (list, tuple)):
        if not isinstance(read, list) or len(read) != len(sent):
            return [path]
        return [p for i, (a, b) in enumerate(zip(sent, read)) for p in _lost(a, b, f"{path}[{i}]")]
    if isinstance(read, datetime) and isinstance(sent, int):  # timestamp-millis comes back as a datetime
        read = round(read.timestamp() * 1000)
    return [] if sent == read else [f"{path}: {sent!r} -> {read!r}"]


def _encode_losslessly(contract, record: dict) -> bytes:
    buf = io.BytesIO()
    fastavro.schemaless_writer(buf, contract.parsed_schema, record)
    lost = _lost(record, fastavro.schemaless_reader(io.BytesIO(buf.getvalue()), contract.parsed_schema))
    assert not lost, f"{contract.name}: not in the contract or altered by it: {lost}"
    return buf.getvalue()


# -- a recording Faust app: what each agent consumes --------------------------------------------

@dataclass
class FakeApp:
    agents: dict = field(default_factory=dict)   # agent name -> (contract names, agent function)
    tables: dict = field(default_factory=dict)   # table name -> (table, kwargs)
    timers: list = field(default_factory=list)
    tasks: list = field(default_factory=list)    # background tasks (not run: the test drives time)
    agent_options: dict = field(default_factory=dict)

    def agent(self, topic, name, **options):
        def decorate(fn):
            self.agents[name] = (topic, fn)
            self.agent_options[name] = options
            return fn
        return decorate

    def timer(self, interval, **kwargs):
        def decorate(fn):
            self.timers.append((interval, fn))
            return fn
        return decorate

    def task(self, fn):
        self.tasks.append(fn)
        return fn

    @property
    def assignor(self):
        """One worker owns every partition of every consumed topic."""
        owned = [SimpleNamespace(topic=c.topic, partition=p) for c in MANIFEST.active for p in range(c.partitions)]
        return SimpleNamespace(assigned_actives=lambda: owned)

    def Table(self, name, **kwargs):  # noqa: N802 - Faust's name
        table = JsonTable()
        self.tables[name] = (table, kwargs)
        return table


class JsonTable(dict):
    """The orchestrator's table as Faust keeps it: values go through JSON (value_type=None)."""

    def __init__(self):
        super().__init__()
        self.writes: list[bytes] = []  # keys in write order (each write is a changelog record)

    def __setitem__(self, key, value):
        assert isinstance(key, bytes)
        self.writes.append(key)
        super().__setitem__(key, json.dumps(value))

    def get(self, key, default=None):
        raw = super().get(key)
        return default if raw is None else json.loads(raw)

    def items(self):
        return [(k, json.loads(v)) for k, v in super().items()]


@dataclass
class FakeEvent:  # weak-referenceable, like faust's Event
    message: SimpleNamespace


class StageError(Exception):
    def __init__(self, code: str, retryable: bool):
        super().__init__(f"{code} (simulated)")
        self.code, self.retryable = code, retryable


class FakeRuntime:
    """Enough of streams.worker.runtime.Runtime to run the real handlers in memory."""

    def __init__(self, objects, results):
        self.manifest = MANIFEST
        self.settings = Settings()
        self.app = FakeApp()
        self.handlers: dict[str, object] = {}
        self.batch_handlers: dict[str, object] = {}  # agents that take every queued event at once
        self.objects, self.results = objects, results
        self.queue: list[tuple[str, str, bytes]] = []
        self.sent: list[tuple[str, str, dict]] = []        # every decoded event, in order
        self.produced: dict[tuple[str, str], dict] = {}  # (stage, run id) -> what work() returned
        self.clock = 1_700_000_000_000  # ms; time moves only when the simulation says so
        self.orchestrator = None
        for register in AGENTS.values():
            registered = register(self.app, self)
            if isinstance(registered, Orchestrator):
                self.orchestrator = registered
                registered.clock = lambda: self.clock
        for name, (_, fn) in self.app.agents.items():
            asyncio.run(fn(name))  # the agent body hands its handler to consume()

    # Runtime API used by the agents
    def topic(self, *names: str) -> tuple[str, ...]:
        return names

    async def consume(self, stream, stage: str, handle) -> None:
        assert stream == stage
        self.handlers[stage] = handle

    async def consume_batches(self, stream, stage: str, handle_batch, max_batch: int) -> None:
        assert stream == stage and max_batch > 1
        self.batch_handlers[stage] = handle_batch

    def encode(self, name: str, record: dict) -> bytes:
        contract = MANIFEST.by_name(name)
        assert contract.active, f"produced to {contract.status} contract {name}"
        check_record(contract.schema, record)
        validate(record, contract.parsed_schema, strict=True)
        if contract.event == "completed" and contract.stage in BUILDERS and contract.stage != "similarity":
            # streams.execution.context.register_stage: <stage>.completed = request identity + work's result
            p = record["payload"]
            assert p == {"run_id": p["run_id"], "model_id": p["model_id"],
                         **self.produced[(contract.stage, p["run_id"])]}
        elif (contract.stage, contract.event) == ("similarity", "completed"):
            # answered by the index agent from the probes: the cell the work chose, never the model itself
            p, made = record["payload"], self.produced[("similarity", record["payload"]["run_id"])]
            assert p["cell"] == made["cell"] and p["fingerprint_version"] == made["fingerprint_version"]
            assert all(m["model_id"] != p["model_id"] for m in p["near_duplicates"])
        return _encode_losslessly(contract, record)

    async def send(self, name: str, key: str, payload: dict, env: dict) -> None:
        await self.send_encoded(name, key, self.encode(name, {"envelope": env, "payload": payload}))

    async def send_encoded(self, name: str, key: str, value: bytes) -> None:
        self.queue.append((name, key, value))

    async def send_soon(self, name: str, key: str, payload: dict, env: dict):
        return await self.send_encoded_soon(name, key, self.encode(name, {"envelope": env, "payload": payload}))

    async def send_encoded_soon(self, name: str, key: str, value: bytes):
        await self.send_encoded(name, key, value)
        acked = asyncio.get_running_loop().create_future()
        acked.set_result(None)
        return acked

    stage_concurrency = 2

    async def run_blocking(self, fn, *args):
        assert fn is discovery_agent._discover
        return group_models(self.objects)

    async def run_stage(self, module: str, stage: str, payload: dict, on_start=None) -> dict:
        assert module == work_module(stage)
        if on_start is not None:
            on_start()
        result = self.results[stage](payload)  # may raise StageError
        self.produced[(stage, payload["run_id"])] = result
        return result

    # delivery
    def consumers(self, name: str) -> list[str]:
        return [agent for agent, (topics, _) in self.app.agents.items() if name in topics]

    def _deliver(self, name: str, key: str, value: bytes):
        contract = MANIFEST.by_name(name)
        record = fastavro.schemaless_reader(io.BytesIO(value), contract.parsed_schema)
        check_record(contract.schema, record)  # consumers check the constraints too
        self.sent.append((name, key, record))
        partition = zlib.crc32(key.encode()) % contract.partitions  # any stable key -> partition map
        message = SimpleNamespace(topic=contract.topic, partition=partition, offset=len(self.sent),
                                  key=key.encode(), value=value)
        return contract, record, message

    async def pump(self) -> None:
        """Deliver the queue in order. A batch agent gets every message queued for it at once
        (up to the next message another agent consumes), as streams/faust_ext/batches.py hands them over."""
        while self.queue:
            agents = self.consumers(self.queue[0][0])
            if len(agents) == 1 and agents[0] in self.batch_handlers:
                batch = []
                while self.queue and self.consumers(self.queue[0][0]) == agents:
                    batch.append(self._deliver(*self.queue.pop(0)))
                await self.batch_handlers[agents[0]](self, batch)
                continue
            contract, record, message = self._deliver(*self.queue.pop(0))
            token = faust.streams._current_event.set(weakref.ref(FakeEvent(message)))  # what faust.current_event() reads
            try:
                for agent in agents:
                    await self.handlers[agent](self, contract, record)
            finally:
                faust.streams._current_event.reset(token)

    def run_scan(self, scan_id: str, workflow: str) -> None:
        payload = {"scan_id": scan_id, "storage": "default", "bucket": "models", "prefix": "incoming/",
                   "workflow": workflow, "owner_id": "owner-1", "provider": "s3", "objects_manifest": None}
        self.queue.append(("discovery-scan.requested", scan_id,
                           self.encode("discovery-scan.requested", {"envelope": envelope("test", scan_id),
                                                                    "payload": payload})))
        asyncio.run(self.drive())

    async def drive(self) -> None:
        """Deliver everything; then let time pass to the next wake-up (a retry's backoff) and
        tick the due runs, as the orchestrator's timer does, until nothing is left to do."""
        await self.pump()
        while self.orchestrator.wakeups._heap:
            self.clock = max(self.clock, self.orchestrator.wakeups._heap[0][0])
            await self.orchestrator.wake_due()
            await self.pump()



# -- the pipeline in memory ---------------------------------------------------------------------

SHA = "3f" * 32
OBJECTS = [StoredObject("incoming/dragon/dragon_base.stl", '"9b2cf535f27731c974343645a3985328"', 48_284),
           StoredObject("incoming/dragon/dragon_top.stl", '"0cc175b9c0f1b6a831c399e269772661"', 102_484),
           StoredObject("incoming/cube.stl", '"92eb5ffee6ae2fec3ad71c777531578f"', 684)]
MESH = {"format": "stl", "vertices": 1_442, "triangles": 2_880, "bbox_min": [-10.0, -12.5, 0.0],
        "bbox_max": [10.0, 12.5, 35.5], "volume": 9_876.5, "surface_area": 3_456.75, "watertight": True,
        "winding_consistent": True, "bodies": 1, "degenerate_faces": 0, "content_sha256": SHA}


def _doc(p: dict, stage: str, name: str) -> dict:
    return {"storage": "default", "bucket": "meshstream-results", "key": f"{p['model_id']}/{stage}/{name}",
            "etag": '"d41d8cd98f00b204e9800998ecf8427e"', "size_bytes": 2_048}


def _thumbnails(p: dict) -> dict:
    views = [("front", 0.0, 0.0), ("isometric", 45.0, 35.264), ("top", 0.0, 90.0)]
    images = [{"view": v, "size": s, "azimuth_deg": az, "elevation_deg": el, "content_type": "image/png",
               "image": _doc(p, "thumbnails", f"{v}_{s}.png")} for v, az, el in views for s in p["sizes"]]
    if p["generate_360_views"]:
        images += [{"view": f"turntable_{i:02d}", "size": min(p["sizes"]), "azimuth_deg": 360.0 * i / p["turntable_frames"],
                    "elevation_deg": 20.0, "content_type": "image/png",
                    "image": _doc(p, "thumbnails", f"turntable_{i:02d}.png")} for i in range(p["turntable_frames"])]
    return {"files": p["files"], "images": images}


def _print_analysis(p: dict) -> dict:
    printers = p["printers"] or ["prusa-mk4"]
    return {"files": p["files"], "units_assumed": "mm", "scale_to_mm": 1.0, "extents_mm": [20.0, 25.0, 35.5],
            "overhang_area_mm2": 120.5, "overhang_fraction": 0.035, "support_volume_mm3": 310.0,
            "needs_supports": True, "min_wall_thickness_mm": 1.2, "thin_wall_fraction": 0.01,
            "bed_fit": [{"printer": name, "build_volume_mm": [250.0, 210.0, 220.0], "fits": True,
                         "fits_reoriented": True} for name in printers],
            "issues": [{"code": "degenerate_faces", "count": 0, "repairable": True, "fix": "merge vertices"}],
            "printability_score": 82,
            "reasons": [{"code": "supports", "delta": -10, "reason": "3.5% of the area overhangs beyond 45 degrees"}],
            "result": _doc(p, "print-analysis", "print-analysis.json")}


RESULTS = {
    "download": lambda p: {"files": [
        {"source": f, "cached": {**f, "bucket": "meshstream-cache", "key": f"sha256/{SHA}"}, "sha256": SHA,
         "size_bytes": f["size_bytes"] or 0, "cache_hit": False} for f in p["files"]]},
    "technical-metadata": lambda p: {"files": p["files"], "metadata": MESH,
                                     "result": _doc(p, "technical-metadata", "metadata.json")},
    "thumbnails": _thumbnails,
    "metamodel": lambda p: {"folder": p["folder"], "groups": [{
        "group_id": f"g-{p['model_id'][:8]}", "name": "dragon", "confidence": 0.85, "reasons": ["shared stem dragon"],
        "parts": [{"file": f, "body_index": None, "role": f"part_{i:02d}"} for i, f in enumerate(p["files"])]}],
        "ungrouped": [], "result": _doc(p, "metamodel", "metamodel.json")},
    "print-analysis": _print_analysis,
    "slicing": lambda p: {"files": p["files"], "printer": p["printer"] or "Prusa MK4", "print_time_seconds": 1140,
                          "filament_grams": 3.57, "filament_length_mm": 1197.5, "filament_volume_mm3": 2880.0,
                          "support_volume_mm3": 0.0, "layers": 100, "height_mm": 20.0, "fits_printer": True,
                          "bed_fit": [{"printer": "Prusa MK4", "fits": True, "fits_reoriented": True}],
                          "layers_document": _doc(p, "slicing", "slicing.json"), "preview": None},
    "similarity": lambda p: {"fingerprint": FINGERPRINT.to_float32_list(), "fingerprint_version": FINGERPRINT.version,
                             "cell": own_cell(FINGERPRINT), "cells": cells_within_reach(FINGERPRINT),
                             "threshold": p["threshold"], "max_matches": p["max_matches"]},
    "sellability": lambda p: {"score": 71.5, "processor_version": "0.1.0", "factors": [
        {"name": "printability", "weight": 0.4, "value": (p["printability_score"] or 0) / 100, "reason": "printability 82/100"},
        {"name": "presentation", "weight": 0.3, "value": min(1.0, p["thumbnail_count"] / 10), "reason": "thumbnails"},
        {"name": "parts", "weight": 0.3, "value": 1.0 / p["part_count"], "reason": f"{p['part_count']} parts"}]},
    "etsy-listing": lambda p: {"files": p["files"], "listing": {
        "title": f"{p['name'].title()} - 3D Printable Model, STL File", "description": f"{p['name']}: print-ready STL.",
        "tags": ["3d print", "stl file", "tabletop"], "materials": ["digital file"], "who_made": p["who_made"],
        "when_made": p["when_made"], "is_supply": False, "taxonomy_id": p["taxonomy_id"] or 6844,
        "price": p["price"] or {"amount": 450, "divisor": 100, "currency_code": "USD"}, "quantity": 1,
        "listing_type": p["listing_type"], "images": p["images"]}},
}


def _optional(flow: str) -> set[str]:
    return {s.stage for s in FLOWS[flow].steps if not s.blocking}


def _results(flow: str, fail_optional=False, fail_blocking=None, retry_once=False) -> dict:
    """Each stage's work: the hand-made result, or the scenario's failure."""
    optional = _optional(flow)
    attempts: dict[tuple[str, str], int] = {}

    def wrap(stage, make):
        def work(p):
            n = attempts[(stage, p["run_id"])] = attempts.get((stage, p["run_id"]), 0) + 1
            if stage == fail_blocking:
                raise StageError("corrupt_mesh", retryable=False)
            if fail_optional and stage in optional:
                raise StageError("render_failed", retryable=False)
            if retry_once and n == 1:
                raise StageError("storage_unavailable", retryable=True)
            return make(p)
        return work
    return {stage: wrap(stage, make) for stage, make in RESULTS.items()}


def _simulate(flow: str, **scenario) -> FakeRuntime:
    rt = FakeRuntime(OBJECTS, _results(flow, **scenario))
    rt.run_scan(f"scan-{flow}", flow)
    return rt


def _events(rt: FakeRuntime, name: str) -> list[dict]:
    return [record for n, _, record in rt.sent if n == name]


def _models() -> int:
    return len(group_models(OBJECTS))
