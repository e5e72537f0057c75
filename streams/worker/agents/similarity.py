"""The similarity stage and its near-duplicate index (ADR 0015).

Two agents. The stage agent (streams.worker.stage_agent, work in the pool) fingerprints the
model, then hands the fingerprint on as `similarity.probe` records keyed by index cell: an
`index` record to every other cell within reach, and once the broker acknowledged those, one
`lookup` to the model's own cell. The index agent consumes the probes; its table
(changelog-backed, partitioned like the probe topic, so it grows with the workers) holds one
entry per (cell, model). A lookup compares the model with its cell's entries, writes the model
there and answers the step with `similarity.completed` (its id derived from the request's, so a
redelivered lookup is the same answer, which the orchestrator ignores).

The table is keyed "<cell>|<model id>" so each changelog record is one small entry; the entries
of a cell are gathered once per partition assignment into a per-cell cache that every write then
keeps current (a lookup compares with the cell in memory, it does not scan the table).
"""
from __future__ import annotations

import asyncio
import logging

from processors.version import PROCESSOR_VERSION
from processors.similarity_index import IndexedModel, near_duplicates
from streams.core import names
from streams.core.envelope import derived_id, envelope
from streams.worker import metrics
from streams.worker.stage_agent import register_stage

STAGE = "similarity"
INDEX_AGENT = "similarity-index"
log = logging.getLogger("meshstream")


def _probe(kind: str, cell: str, record: dict, result: dict) -> tuple[dict, dict]:
    env_in, payload = record["envelope"], record["payload"]
    body = {"kind": kind, "cell": cell, "run_id": payload["run_id"], "model_id": payload["model_id"],
            "owner_id": payload.get("owner_id"), "name": payload.get("name"),
            "fingerprint": result["fingerprint"], "fingerprint_version": result["fingerprint_version"],
            "threshold": result["threshold"], "max_matches": result["max_matches"], "files": payload["files"],
            "request_id": env_in["event_id"], "correlation_id": env_in["correlation_id"]}
    env = envelope(STAGE, env_in["correlation_id"], env_in["event_id"],
                   event_id=derived_id("similarity-probe", env_in["event_id"], kind, cell))
    return body, env


async def send_probes(rt, record: dict, result: dict) -> None:
    """Writes to the neighbouring cells first (acknowledged), then the lookup: of two similar
    models fingerprinted at the same moment, the later lookup sees the earlier's write."""
    own = result["cell"]
    acks = []
    for cell in result["cells"]:
        if cell != own:
            body, env = _probe("index", cell, record, result)
            acks.append(await rt.send_soon(names.SIMILARITY_PROBE, cell, body, env))
    await asyncio.gather(*acks)
    body, env = _probe("lookup", own, record, result)
    await rt.send(names.SIMILARITY_PROBE, own, body, env)


class SimilarityIndex:
    """The index table of this worker and the per-cell cache over its active partitions."""

    def __init__(self, app, rt):
        self.app, self.rt = app, rt
        probe = rt.manifest.by_name(names.SIMILARITY_PROBE)
        self.topic = probe.topic
        # Faust derives the changelog serializers from these types (bytes -> raw, untyped -> json).
        # No partitioner: each write goes to the changelog partition of the probe being handled,
        # which is the cell's partition, so a partition's store holds whole cells.
        self.table = app.Table(names.SIMILARITY_TABLE, default=None, partitions=probe.partitions,
                               key_type=bytes, value_type=None)
        self._cells: dict[str, dict[str, IndexedModel]] = {}
        self._assignment: frozenset = frozenset()

    def _active(self) -> frozenset:
        return frozenset(tp.partition for tp in self.app.assignor.assigned_actives() if tp.topic == self.topic)

    def cell(self, cell: str) -> dict[str, IndexedModel]:
        """The models of a cell, from the table the first time after an assignment change."""
        active = self._active()
        if active != self._assignment:  # partitions came or went (rebalance): the cache starts over
            self._cells, self._assignment = {}, active
        found = self._cells.get(cell)
        if found is None:
            prefix = f"{cell}|".encode()
            found = {}
            for key, value in self.table.items():
                if value is not None and bytes(key).startswith(prefix):
                    entry = IndexedModel.from_record(value)
                    found[entry.model_id] = entry
            self._cells[cell] = found
        return found

    def write(self, cell: str, entry: IndexedModel) -> None:
        models = self.cell(cell)
        self.table[f"{cell}|{entry.model_id}".encode()] = entry.to_record()
        models[entry.model_id] = entry

    async def handle(self, rt, contract, record: dict) -> None:
        p = record["payload"]
        entry = IndexedModel.from_record(p)
        if p["kind"] == "index":
            self.write(p["cell"], entry)
            return
        models = self.cell(p["cell"])
        matches = near_duplicates(entry, models.values(), p["threshold"], p["max_matches"])
        self.write(p["cell"], entry)
        metrics.similarity_lookup(len(models), matches)
        env = envelope(STAGE, p["correlation_id"], p["request_id"],
                       event_id=derived_id(STAGE, p["request_id"], PROCESSOR_VERSION), version=PROCESSOR_VERSION)
        payload = {"run_id": p["run_id"], "model_id": p["model_id"], "files": p["files"],
                   "fingerprint_version": p["fingerprint_version"], "cell": p["cell"],
                   "candidates": len(models) - (1 if entry.model_id in models else 0), "near_duplicates": matches}
        if matches:
            log.info("similarity run=%s model=%s: %d near duplicate(s), best %s (%.3f%s)", p["run_id"], p["model_id"],
                     len(matches), matches[0]["model_id"], matches[0]["similarity"],
                     ", another owner" if matches[0]["other_owner"] else "")
        await rt.send(f"{STAGE}.completed", p["run_id"], payload, env)


def register(app, rt) -> None:
    register_stage(STAGE, deliver=send_probes)(app, rt)
    index = SimilarityIndex(app, rt)

    # one at a time: per partition, a lookup must come after the writes sent before it
    @app.agent(rt.topic(names.SIMILARITY_PROBE), name=INDEX_AGENT, concurrency=1)
    async def similarity_index(stream):
        await rt.consume(stream, INDEX_AGENT, index.handle)
