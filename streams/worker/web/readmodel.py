"""A worker's read model of scans, models, failures and dead letters, for the API and the console.

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
import time

from streams.core import names
from streams.worker.web.times import age, iso, now_ms, seconds, to_ms

log = logging.getLogger("meshstream.web")

CONTRACTS = (names.SCAN_REQUESTED, names.DISCOVERED, *names.TERMINAL, names.DEAD_LETTERED)
RECENT = 50
SCAN_STATES = ("discovering", "running", "finished", "failed")
MESSAGE_CHARS = 160  # of a failure reason's message part (the source s3:// key is never cut)
# how often the consumer asks the broker how far discovery has got (committed offsets of the
# worker group on the scan topic): an empty scan finishes within about this plus a commit interval
LISTED_CHECK_SECONDS = 1.0
FETCH_WAIT_MS = 500
FETCH_MIN_BYTES = 256 * 1024


class ReadModel:
    def __init__(self, manifest, serde):
        self.manifest, self.serde = manifest, serde
        self.contracts = {manifest.by_name(n).topic: manifest.by_name(n) for n in CONTRACTS}
        self.scan_topic = manifest.by_name(names.SCAN_REQUESTED).topic
        self.discovered_topic = manifest.by_name(names.DISCOVERED).topic
        self.scans: dict[str, dict] = {}
        self.models: dict[str, dict] = {}
        self.runs: dict[str, dict] = {}          # run_id -> summary (state, names), for scans
        self.failures: collections.deque = collections.deque(maxlen=RECENT)
        self.dead_letters: collections.deque = collections.deque(maxlen=RECENT)
        self._dead_letter_ids: set = set()  # dead letters are deduplicated by event id, like every consumer
        # original key/bytes of the recent dead letters, for the console's replay button
        self.dead_letter_bytes: collections.OrderedDict = collections.OrderedDict()
        self.terminal_by_workflow: collections.Counter = collections.Counter()
        self.dead_letter_total = 0
        # (original topic, key, value) of a dead letter -> its entry: a replayed record that is
        # dead-lettered again is linked to the one it replays ("replayed -> 3:0")
        self._dead_letter_by_content: dict = {}
        self.records = 0

    # -- applying events (pure; unit-testable) ---------------------------------------------
    def apply(self, contract_name: str, record: dict, where: tuple[str, int, int] | None = None) -> None:
        self.records += 1
        p = record.get("payload") or {}
        at = to_ms((record.get("envelope") or {}).get("occurred_at"))
        if contract_name == names.SCAN_REQUESTED:
            scan = self._scan(p["scan_id"])
            scan.update(requested=True, bucket=p.get("bucket"), prefix=p.get("prefix"), workflow=p.get("workflow"),
                        owner_id=p.get("owner_id"), storage=p.get("storage"), requested_at=at)
            if where is not None:
                scan["request_at"] = (where[1], where[2])  # partition, offset: discovery's progress is measured against it
        elif contract_name == names.DISCOVERED:
            run = self.runs.setdefault(p["run_id"], {"state": "running"})
            run.update({k: p.get(k) for k in ("run_id", "model_id", "scan_id", "name", "workflow", "owner_id")},
                       source=source_of(p.get("files")), discovered_at=at)
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
                                                                "failed_stage", "error")} | {"at": iso(at)})
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
            text_key = key.decode(errors="replace") if isinstance(key, bytes) else key
            error = p.get("error") or {}
            scan_id = None
            if p.get("original_topic") == self.scan_topic and text_key:
                scan_id = text_key  # scan requests are keyed by scan id: the scan takes its dead letter's code
                self._scan(scan_id)["dead_letter"] = {"id": f"{partition}:{offset}", "code": error.get("code"),
                                                      "message": error.get("message"), "at": at}
            elif text_key in self.runs:
                scan_id = self.runs[text_key].get("scan_id")
            self.dead_letter_total += 1
            entry = {
                "id": f"{partition}:{offset}", "partition": partition, "offset": offset, "at": iso(at),
                "scan_id": scan_id, "replayed_as": None, "replay_of": None,
                "original_topic": p.get("original_topic"), "original_partition": p.get("original_partition"),
                "original_offset": p.get("original_offset"), "stage": p.get("stage"),
                "key": text_key,
                "code": error.get("code"), "message": error.get("message")}
            content = (p.get("original_topic"), key, hash(p.get("original_value")))
            earlier = self._dead_letter_by_content.get(content)
            if earlier is not None and earlier["replayed_as"] is None:
                earlier["replayed_as"], entry["replay_of"] = entry["id"], earlier["id"]
            self._dead_letter_by_content[content] = entry
            while len(self._dead_letter_by_content) > 4 * RECENT:
                self._dead_letter_by_content.pop(next(iter(self._dead_letter_by_content)))
            self.dead_letters.appendleft(entry)

    def listed(self, committed: dict[int, int], fence: dict[int, int]) -> list[str]:
        """Discovery has finished the scans whose request offset is below the worker group's
        committed offset on the scan topic (`committed`: partition -> offset); their models are
        all in the discovered topic below `fence` (partition -> end offset, read after `committed`).
        Returns the scans newly marked."""
        marked = []
        for scan in self.scans.values():
            where = scan.get("request_at")
            if where and "listed_fence" not in scan and committed.get(where[0], -1) > where[1]:
                scan["listed_fence"] = dict(fence)
                marked.append(scan["scan_id"])
        return marked

    def caught_up(self, positions: dict[int, int], at: int | None = None) -> None:
        """The read model has read the discovered topic up to `positions`: scans whose fence is
        reached have every model counted (`models_found`, 0 included)."""
        for scan in self.scans.values():
            fence = scan.get("listed_fence")
            if fence is not None and "models_found" not in scan and all(
                    positions.get(part, 0) >= end for part, end in fence.items()):
                scan["models_found"], scan["listed_at"] = len(scan["runs"]), at if at is not None else now_ms()

    def pending_scans(self) -> bool:
        return any(s.get("request_at") and "listed_fence" not in s and "dead_letter" not in s
                   for s in self.scans.values())

    def _scan(self, scan_id: str) -> dict:
        return self.scans.setdefault(scan_id, {"scan_id": scan_id, "requested": False, "runs": set()})

    # -- queries ---------------------------------------------------------------------------
    def scan(self, scan_id: str, models: bool = True, now: int | None = None) -> dict | None:
        scan = self.scans.get(scan_id)
        if scan is None:
            return None
        now = now if now is not None else now_ms()
        runs = [self.runs[r] for r in sorted(scan["runs"]) if r in self.runs]
        by_state = collections.Counter(r.get("state", "running") for r in runs)
        finished = by_state["completed"] + by_state["failed"]
        found = scan.get("models_found")
        dead = scan.get("dead_letter")
        if dead is not None and not runs:
            status = "failed"  # discovery refused the scan (unknown storage, bucket, provider...)
        elif found is not None and finished >= len(runs):
            status = "finished"
        elif runs:
            status = "running"
        else:
            status = "discovering"
        started = scan.get("requested_at")
        if started is None and runs:
            started = min((r.get("discovered_at") or 0) for r in runs) or None
        ended = None
        if status == "finished":
            ended = max([r.get("finished_at") or 0 for r in runs] + [scan.get("listed_at") or 0]) or None
        elif status == "failed":
            ended = dead.get("at")
        out = {"scan_id": scan_id, "status": status, "requested": scan["requested"],
               **{k: scan.get(k) for k in ("bucket", "prefix", "workflow", "owner_id", "storage")},
               "source": f"s3://{scan.get('bucket')}/{scan.get('prefix') or ''}" if scan.get("bucket") else None,
               "requested_at": iso(started), "finished_at": iso(ended),
               "duration_seconds": seconds(started, ended if ended else now),
               "age_seconds": age(started, now),
               "models_discovered": len(runs), "models_found": found,
               "runs_by_state": dict(by_state),
               "progress": {"done": finished, "total": len(runs)},
               "error": ({"code": dead["code"], "message": dead["message"], "dead_letter": dead["id"]} if dead else None)}
        if models:
            out["models"] = [{k: r.get(k) for k in ("model_id", "run_id", "name", "state", "failed_stage", "error", "source")}
                             | {"finished_at": iso(r.get("finished_at")), "reason": self.reason(r)} for r in runs]
        return out

    def scans_page(self, state: str | None = None, limit: int = 20, offset: int = 0) -> dict:
        """Scans, newest request first, optionally only those in `state`; without models."""
        now = now_ms()
        ordered = sorted(self.scans.values(), key=lambda s: (s.get("requested_at") is not None, s.get("requested_at") or 0),
                         reverse=True)
        rows = [self.scan(s["scan_id"], models=False, now=now) for s in ordered]
        if state:
            rows = [r for r in rows if r["status"] == state]
        return {"total": len(rows), "offset": offset, "limit": limit, "scans": rows[offset:offset + limit]}

    def reason(self, run: dict) -> str | None:
        """A failed run's one-line reason, built when asked: the run's terminal event may be read
        before its discovery (another topic), which names the source object."""
        if run.get("state") != "failed":
            return None
        return reason(run.get("source"), run.get("failed_stage"), run.get("error"))

    def recent_failures(self, n: int = RECENT) -> list[dict]:
        out = []
        for f in list(self.failures)[:n]:
            run = self.runs.get(f["run_id"]) or {}
            out.append({**f, "source": run.get("source"), "reason": self.reason(run)})
        return out

    def model(self, model_id: str) -> dict | None:
        found = self.models.get(model_id)
        if found is None:
            return None
        latest = found.get("latest")
        runs = [self.runs.get(r) or {} for r in found["runs"]]
        return {**found, "latest": latest and {**latest, "at": iso(latest.get("at"))},
                "source": next((r.get("source") for r in runs if r.get("source")), None),
                "reason": next((self.reason(r) for r in reversed(runs) if self.reason(r)), None)}

    def overview_counts(self) -> dict:
        states = collections.Counter(r.get("state", "running") for r in self.runs.values())
        return {"running": states["running"], "completed": states["completed"], "failed": states["failed"]}

    def overview(self) -> dict:
        states = collections.Counter(r.get("state", "running") for r in self.runs.values())
        by_workflow: dict = collections.defaultdict(collections.Counter)
        for r in self.runs.values():
            by_workflow[r.get("workflow")][r.get("state", "running")] += 1
        return {"runs_by_state": dict(states), "runs_by_workflow": {w: dict(c) for w, c in by_workflow.items()},
                "scans": self.scans_page(limit=20)["scans"],
                "failures": self.recent_failures(), "dead_letters": list(self.dead_letters),
                "dead_letter_total": self.dead_letter_total, "records_read": self.records}

    # -- consuming -------------------------------------------------------------------------
    async def run(self, client_config: dict, group_id: str | None = None) -> None:
        """Consume the read model's topics from the beginning, forever (a worker task).

        Fetches wait for up to FETCH_WAIT_MS or FETCH_MIN_BYTES: a view a fraction of a second
        behind costs one fetch per batch of events instead of one per event in every worker.

        With `group_id` (the workers' consumer group), it also learns when discovery has finished
        a scan: discovery acks a scan request only after every model it found was acknowledged
        by the broker, so the group's committed offset on the scan topic passing the request
        means "all models published"; reading the discovered topic up to its end offsets taken
        after that gives their number, 0 included (no contract change needed)."""
        from aiokafka import AIOKafkaConsumer, TopicPartition

        consumer = AIOKafkaConsumer(*self.contracts, **client_config, group_id=None,
                                    enable_auto_commit=False, auto_offset_reset="earliest",
                                    metadata_max_age_ms=5000, fetch_max_wait_ms=FETCH_WAIT_MS,
                                    fetch_min_bytes=FETCH_MIN_BYTES)
        # reads the group's committed offsets only (OffsetFetch); it never subscribes or joins
        progress = (AIOKafkaConsumer(**client_config, group_id=group_id, enable_auto_commit=False)
                    if group_id else None)
        await consumer.start()
        if progress is not None:
            await progress.start()
        scan_tps = [TopicPartition(self.scan_topic, p) for p in range(self.manifest.by_name(names.SCAN_REQUESTED).partitions)]
        found_tps = [TopicPartition(self.discovered_topic, p) for p in range(self.manifest.by_name(names.DISCOVERED).partitions)]
        checked = 0.0
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
                if progress is not None and time.monotonic() - checked >= LISTED_CHECK_SECONDS:
                    checked = time.monotonic()
                    try:
                        await self._check_listed(consumer, progress, scan_tps, found_tps)
                    except Exception as exc:  # noqa: BLE001 - retried on the next round
                        log.debug("read model: discovery progress unknown: %s", exc)
                await asyncio.sleep(0)
        finally:
            await consumer.stop()
            if progress is not None:
                await progress.stop()

    async def _check_listed(self, consumer, progress, scan_tps, found_tps) -> None:
        if self.pending_scans():
            committed = {}
            for tp in scan_tps:
                offset = await progress.committed(tp)
                if offset is not None:
                    committed[tp.partition] = offset
            if any(committed.values()):
                ends = await consumer.end_offsets(found_tps)
                self.listed(committed, {tp.partition: end for tp, end in ends.items()})
        if any("listed_fence" in s and "models_found" not in s for s in self.scans.values()):
            self.caught_up({tp.partition: await consumer.position(tp) for tp in found_tps})


def source_of(files: list | None) -> str | None:
    """The model's source object, `s3://bucket/key` of its first file (the one a person looks for)."""
    for f in files or []:
        if f.get("bucket") and f.get("key"):
            return f"s3://{f['bucket']}/{f['key']}"
    return None


def reason(source: str | None, stage: str | None, error: dict | None) -> str:
    """One short line: which source object failed, in which stage, why (the message's first line,
    with the cache paths it names replaced by the file's name).

    Why: the stages read the model from the download cache, so their messages named the cache
    object, twice ("<cache key>: <cache key> is not a valid STL"), which does not tell an operator
    which of their files is broken. The source is never cut; the message is, at a word."""
    error = error or {}
    message = short_message(error.get("message"))
    head = f"{source or 'unknown source'}: {stage or 'a step'} failed ({error.get('code') or 'error'})"
    return f"{head}: {message}" if message else head


def short_message(message: str | None) -> str:
    """An error message's first line, the cache paths it names reduced to the file name, cut at a word."""
    message = (message or "").strip().splitlines()[0] if (message or "").strip() else ""
    parts = [part for part in message.split(": ") if not _is_path(part)]
    message = ": ".join(" ".join(_file_name(w) for w in part.split(" ")) for part in parts)
    if len(message) > MESSAGE_CHARS:
        message = message[:MESSAGE_CHARS].rsplit(" ", 1)[0] + " …"
    return message


def _is_path(text: str) -> bool:
    return "/" in text and " " not in text.strip()


def _file_name(word: str) -> str:
    return word.rsplit("/", 1)[-1] if _is_path(word) else word
