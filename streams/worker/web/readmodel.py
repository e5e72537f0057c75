"""A worker's read model of scans, models, failures and dead letters, for the API and dashboard.

Why a separate consumer rather than a Faust table: scan requests are keyed by scan id, models'
events by run id, so a per-scan table would need a repartition topic outside the manifest. Each
worker instead reads the few topics it needs (names from the manifest) with its own group-less
consumer from the beginning, so every worker answers `GET /scans/{id}` and `GET /models/{id}`
alike, whichever partitions it owns. Cost: each worker holds a summary of every scan and model
in memory and re-reads these topics on start (fine for thousands of models; a compacted
projection topic would be the next step).
"""
from __future__ import annotations

import asyncio
import collections
import logging
from streams.core import names

log = logging.getLogger("meshstream.web")

CONTRACTS = (names.SCAN_REQUESTED, names.DISCOVERED, *names.TERMINAL, names.DEAD_LETTERED)
RECENT = 50
FETCH_WAIT_MS = 500
FETCH_MIN_BYTES = 256 * 1024


class ReadModel:
    def __init__(self, manifest, serde):
        self.manifest, self.serde = manifest, serde
        self.contracts = {manifest.by_name(n).topic: manifest.by_name(n) for n in CONTRACTS}
        self.scans: dict[str, dict] = {}
        self.models: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}          # run_id -> summary (state, names), for scans
        self.failures: collections.deque = collections.deque(maxlen=RECENT)
        self.dead_letters: collections.deque = collections.deque(maxlen=RECENT)
        self._dead_letter_ids: set = set()  # dead letters are deduplicated by event id, like every consumer
        # original key/bytes of the recent dead letters, for the dashboard's replay button
        self.dead_letter_bytes: collections.OrderedDict = collections.OrderedDict()
        self.terminal_by_workflow: collections.Counter = collections.Counter()
        self.records = 0

    # -- applying events (pure; unit-testable) ---------------------------------------------
    def apply(self, contract_name: str, record: dict, where: tuple[str, int, int] | None = None) -> None:
        self.records += 1
        p = record.get("payload") or {}
        at = (record.get("envelope") or {}).get("occurred_at")
        if contract_name == names.SCAN_REQUESTED:
            scan = self._scan(p["scan_id"])
            scan.update(requested=True, bucket=p.get("bucket"), prefix=p.get("prefix"), workflow=p.get("workflow"),
                        owner_id=p.get("owner_id"), requested_at=at)
        elif contract_name == names.DISCOVERED:
            run = self.runs.setdefault(p["run_id"], {"state": "running"})
            run.update({k: p.get(k) for k in ("run_id", "model_id", "scan_id", "name", "workflow", "owner_id")})
            self._scan(p["scan_id"])["runs"].add(p["run_id"])
            model = self.models.setdefault(p["model_id"], {"model_id": p["model_id"], "runs": [], "latest": None})
            model.update(name=p.get("name"), files=p.get("files"), owner_id=p.get("owner_id"))
            if p["run_id"] not in model["runs"]:
                model["runs"].append(p["run_id"])
        elif contract_name in names.TERMINAL:
            state = "completed" if contract_name == names.COMPLETED else "failed"
            run = self.runs.setdefault(p["run_id"], {})
            if run.get("state") in ("completed", "failed"):
                return  # a duplicate terminal event
            run.update({k: p.get(k) for k in ("run_id", "model_id", "scan_id", "name", "workflow")}, state=state,
                       finished_at=at, failed_stage=p.get("failed_stage"), error=p.get("error"))
            self.terminal_by_workflow[(p.get("workflow"), state)] += 1
            self._scan(p["scan_id"])["runs"].add(p["run_id"])
            model = self.models.setdefault(p["model_id"], {"model_id": p["model_id"], "runs": [], "latest": None})
            model.setdefault("name", p.get("name"))
            if p["run_id"] not in model["runs"]:
                model["runs"].append(p["run_id"])
            model["latest"] = {"state": state, "at": at, **p}
            if state == "failed":
                self.failures.appendleft({k: p.get(k) for k in ("run_id", "model_id", "scan_id", "name", "workflow",
                                                                "failed_stage", "error")} | {"at": at})
        elif contract_name == names.DEAD_LETTERED:
            event_id = (record.get("envelope") or {}).get("event_id")
            if event_id in self._dead_letter_ids:
                return  # the same poison record dead-lettered again (another group, a redelivery)
            self._dead_letter_ids.add(event_id)
            topic, partition, offset = where or (None, None, None)
            key = p.get("original_key")
            self.dead_letter_bytes[f"{partition}:{offset}"] = (p.get("original_topic"), key, p.get("original_value"))
            while len(self.dead_letter_bytes) > RECENT:
                self.dead_letter_bytes.popitem(last=False)
            self.dead_letters.appendleft({
                "id": f"{partition}:{offset}", "partition": partition, "offset": offset, "at": at,
                "original_topic": p.get("original_topic"), "original_partition": p.get("original_partition"),
                "original_offset": p.get("original_offset"), "stage": p.get("stage"),
                "key": key.decode(errors="replace") if isinstance(key, bytes) else key,
                "code": (p.get("error") or {}).get("code"), "message": (p.get("error") or {}).get("message")})

    def _scan(self, scan_id: str) -> dict:
        return self.scans.setdefault(scan_id, {"scan_id": scan_id, "requested": False, "runs": set()})

    # -- queries ---------------------------------------------------------------------------
    def scan(self, scan_id: str) -> dict | None:
        scan = self.scans.get(scan_id)
        if scan is None:
            return None
        runs = [self.runs[r] for r in sorted(scan["runs"]) if r in self.runs]
        by_state = collections.Counter(r.get("state", "running") for r in runs)
        finished = by_state["completed"] + by_state["failed"]
        status = ("discovering" if not runs else "running" if finished < len(runs) else "finished")
        return {"scan_id": scan_id, "status": status, "requested": scan["requested"],
                **{k: scan.get(k) for k in ("bucket", "prefix", "workflow", "owner_id", "requested_at")},
                "models_discovered": len(runs), "runs_by_state": dict(by_state),
                "progress": {"done": finished, "total": len(runs)},
                "models": [{k: r.get(k) for k in ("model_id", "run_id", "name", "state", "failed_stage", "error")}
                           for r in runs]}

    def model(self, model_id: str) -> dict | None:
        return self.models.get(model_id)

    def overview(self) -> dict:
        states = collections.Counter(r.get("state", "running") for r in self.runs.values())
        by_workflow: dict = collections.defaultdict(collections.Counter)
        for r in self.runs.values():
            by_workflow[r.get("workflow")][r.get("state", "running")] += 1
        # scans seen only through their discoveries have no request time: they sort last
        recent = sorted(self.scans.values(), key=lambda s: (s.get("requested_at") is not None, s.get("requested_at") or 0),
                        reverse=True)[:20]
        return {"runs_by_state": dict(states), "runs_by_workflow": {w: dict(c) for w, c in by_workflow.items()},
                "scans": [self.scan(s["scan_id"]) | {"models": None} for s in recent],
                "failures": list(self.failures), "dead_letters": list(self.dead_letters),
                "records_read": self.records}

    # -- consuming -------------------------------------------------------------------------
    async def run(self, client_config: dict) -> None:
        """Consume the read model's topics from the beginning, forever (a worker task).

        Fetches wait for up to FETCH_WAIT_MS or FETCH_MIN_BYTES: a view a fraction of a second
        behind costs one fetch per batch of events instead of one per event in every worker."""
        from aiokafka import AIOKafkaConsumer

        consumer = AIOKafkaConsumer(*self.contracts, **client_config, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    metadata_max_age_ms=5000, fetch_max_wait_ms=FETCH_WAIT_MS,
                                    fetch_min_bytes=FETCH_MIN_BYTES)
        await consumer.start()
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=1000, max_records=500)
                for tp, messages in batches.items():
                    contract = self.contracts[tp.topic]
                    for msg in messages:
                        try:
                            record = self.serde.decode(msg.value, contract)
                        except Exception as exc:  # noqa: BLE001 - poison is the agents' business
                            log.debug("read model skips %s@%s: %s", tp, msg.offset, exc)
                            continue
                        try:
                            self.apply(contract.name, record, (tp.topic, tp.partition, msg.offset))
                        except Exception:  # noqa: BLE001 - one odd event must not stop the view
                            log.exception("read model could not apply %s@%s", tp, msg.offset)
                await asyncio.sleep(0)
        finally:
            await consumer.stop()
