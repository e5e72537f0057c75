"""Replay: reprocess models on purpose, safely.

Three tools for operators, one rule: a replay never produces a second terminal event for a run,
and replaying the same range twice creates no new work for identical inputs and versions.

* `replay_dead_letters`: put dead-lettered records back on their original topics after a fix
  (same key and bytes, so the same event ids; every consumer is idempotent).
* `replay_topic`: read a range of a topic (offsets or times, a partition, a model) and publish a
  *new run* for each matching event, linked to the original by `causation_id`. The new run id is
  derived from the original event id, the target workflow and the processor version, so the same
  range replayed twice maps onto the same runs (the orchestrator ignores a run it already has).
* `stale_models` / `reprocess`: new runs for models whose latest results were made by another
  processor version.
* `reset_group`: rewind a consumer group to a time, for operators who prefer that (refused while
  the group has live members).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Callable, Iterator

from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from processors.model import PROCESSOR_VERSION
from registry.manifest import Contract, default_manifest
from registry.serde import AvroSerde, SerdeError, registry_client
from streams.client import processing_options, producer_config
from streams.core.envelope import derived_id, envelope
from streams.core.security import kafka_client_config
from streams.core.settings import Settings
from streams.orchestration.workflow import runnable
from streams.core import names

SERVICE = "meshstream-replay"
# what a replayed event becomes: contract name -> how to turn its payload into a new run's
# discovered payload (scans are re-published as new scans instead)
REPLAYABLE = (names.SCAN_REQUESTED, names.DISCOVERED, *names.TERMINAL)


class ReplayError(ValueError):
    """The replay cannot be done as asked (unknown topic, a topic that cannot be replayed, ...)."""


@dataclass(frozen=True)
class DeadLetter:
    offset: int
    partition: int
    original_topic: str
    original_offset: int
    original_key: bytes | None
    original_value: bytes | None
    stage: str
    code: str
    message: str


@dataclass(frozen=True)
class Found:
    """One record read from a topic range."""

    partition: int
    offset: int
    timestamp_ms: int
    record: dict


def parse_position(text: str | None) -> tuple[str, int] | None:
    """`--from`/`--to`: an offset (digits) or a time (ISO 8601, or epoch milliseconds with `ms`)."""
    if text is None:
        return None
    text = text.strip()
    if text.isdigit():
        return ("offset", int(text))
    if text.endswith("ms") and text[:-2].isdigit():
        return ("time", int(text[:-2]))
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ReplayError(f"{text!r} is neither an offset nor an ISO time (e.g. 2026-11-25T08:00:00Z)") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return ("time", int(when.timestamp() * 1000))


def _consumer(settings: Settings) -> Consumer:
    return Consumer({**kafka_client_config(settings), "group.id": f"{SERVICE}-reader",
                     "enable.auto.commit": False, "enable.partition.eof": False})


def read_range(settings: Settings, contract: Contract, *, start=None, end=None, partition: int | None = None,
               timeout: float = 10.0, progress: Callable[[int, int], None] | None = None) -> Iterator[Found]:
    """Decoded records of a contract's topic from `start` up to `end` (exclusive; default: the
    end of each partition when the read began), oldest first per partition."""
    serde = AvroSerde(registry_client(settings))
    consumer = _consumer(settings)
    try:
        meta = consumer.list_topics(contract.topic, timeout=timeout).topics.get(contract.topic)
        if meta is None or meta.error is not None:
            raise ReplayError(f"topic {contract.topic} does not exist on {settings.kafka_bootstrap}")
        partitions = sorted(meta.partitions) if partition is None else [partition]
        if partition is not None and partition not in meta.partitions:
            raise ReplayError(f"topic {contract.topic} has no partition {partition}")
        bounds = {p: _bounds(consumer, contract.topic, p, start, end, timeout) for p in partitions}
        total = sum(max(0, hi - lo) for lo, hi in bounds.values())
        seen = 0
        for p, (lo, hi) in bounds.items():
            if hi <= lo:
                continue
            consumer.assign([TopicPartition(contract.topic, p, lo)])
            while True:
                msg = consumer.poll(timeout)
                if msg is None:
                    raise ReplayError(f"{contract.topic}[{p}] stalled before offset {hi}")
                if msg.error():
                    continue
                seen += 1
                if progress:
                    progress(seen, total)
                try:
                    yield Found(p, msg.offset(), msg.timestamp()[1], serde.decode(msg.value(), contract))
                except SerdeError:
                    pass  # not an event of the contract (the pipeline dead-lettered it): nothing to replay
                if msg.offset() >= hi - 1:
                    break
    finally:
        consumer.close()


def _bounds(consumer, topic: str, p: int, start, end, timeout: float) -> tuple[int, int]:
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)

    def resolve(pos, default: int) -> int:
        if pos is None:
            return default
        kind, value = pos
        if kind == "offset":
            return min(max(value, low), high)
        (tp,) = consumer.offsets_for_times([TopicPartition(topic, p, value)], timeout=timeout)
        return high if tp.offset in (-1, OFFSET_END) else tp.offset

    return resolve(start, low), resolve(end, high)


@dataclass
class ReplayReport:
    topic: str
    matched: int = 0
    published: int = 0
    runs: list = field(default_factory=list)   # (new run or scan id, original event id)
    dry_run: bool = False

    def summary(self) -> str:
        verb = "would start" if self.dry_run else "started"
        return f"{self.topic}: {self.matched} matching event(s); {verb} {len(self.runs)} new run(s)/scan(s)"


def replay_topic(settings: Settings, topic: str, *, start=None, end=None, partition: int | None = None,
                 model_id: str | None = None, workflow: str | None = None, dry_run: bool = False,
                 progress: Callable[[int, int], None] | None = None) -> ReplayReport:
    """Publish a new run (or scan) for every matching event of `topic` in the range."""
    manifest = default_manifest()
    contract = next((c for c in manifest.contracts if topic in (c.topic, c.name)), None)
    if contract is None:
        raise ReplayError(f"unknown topic {topic!r}")
    if contract.name not in REPLAYABLE:
        raise ReplayError(f"{contract.topic} cannot be replayed as new runs; replayable: "
                          + ", ".join(manifest.by_name(n).topic for n in REPLAYABLE))
    if workflow is not None:
        runnable(workflow)  # refuse unknown/planned workflows before publishing anything
    report = ReplayReport(contract.topic, dry_run=dry_run)
    publisher = None if dry_run else _Publisher(settings)
    seen_events: set[str] = set()
    for found in read_range(settings, contract, start=start, end=end, partition=partition, progress=progress):
        env, payload = found.record["envelope"], found.record["payload"]
        if model_id is not None and payload.get("model_id") != model_id:
            continue
        if env["event_id"] in seen_events:
            continue  # a duplicate of an event already replayed in this range
        seen_events.add(env["event_id"])
        report.matched += 1
        target = workflow or payload.get("workflow") or "standard"
        if contract.name == names.SCAN_REQUESTED:
            new_id = derived_id("replay", env["event_id"], target, PROCESSOR_VERSION)
            out = (names.SCAN_REQUESTED, new_id, {**payload, "scan_id": new_id, "workflow": target})
        else:
            new_id = derived_id("replay", env["event_id"], target, PROCESSOR_VERSION)
            out = (names.DISCOVERED, new_id, discovered_from(payload, new_id, target))
        report.runs.append((new_id, env["event_id"]))
        if publisher is not None:
            name, key, new_payload = out
            # the new event's id is derived too: a second replay of the range re-sends the same event
            publisher.send(name, key, new_payload, correlation_id=new_id, causation_id=env["event_id"],
                           event_id=derived_id("replay-event", new_id))
            report.published += 1
    if publisher is not None:
        publisher.flush()
    return report


def discovered_from(payload: dict, run_id: str, workflow: str) -> dict:
    """A model-discovered payload for a new run of the model an event describes."""
    files = payload.get("files") or []
    folder = payload.get("folder")
    if folder is None:  # terminal events do not carry the folder: the files' common directory
        keys = [f["key"] for f in files]
        folder = _common_folder(keys)
    return {"scan_id": payload.get("scan_id") or run_id, "run_id": run_id, "model_id": payload["model_id"],
            "name": payload.get("name") or payload["model_id"], "folder": folder, "workflow": workflow,
            "files": files, "owner_id": payload.get("owner_id"),
            "options": payload.get("options"), "collection_id": payload.get("collection_id")}


def _common_folder(keys: list[str]) -> str:
    if not keys:
        return ""
    parts = [k.split("/")[:-1] for k in keys]
    common = []
    for segs in zip(*parts):
        if len(set(segs)) != 1:
            break
        common.append(segs[0])
    return "/".join(common) + ("/" if common else "")


class _Publisher:
    """Idempotent producer that raises on the first failed delivery."""

    def __init__(self, settings: Settings):
        self.manifest = default_manifest()
        self.serde = AvroSerde(registry_client(settings))
        self.producer = Producer(producer_config(settings))
        self.errors: list = []

    def send(self, name: str, key: str, payload: dict, *, correlation_id: str, causation_id: str | None,
             event_id: str) -> None:
        contract = self.manifest.by_name(name)
        env = envelope(SERVICE, correlation_id, causation_id, event_id=event_id)
        value = self.serde.encode(contract, {"envelope": env, "payload": payload})
        self.producer.produce(contract.topic, key=key.encode(), value=value,
                              on_delivery=lambda err, msg: self.errors.append(err) if err else None)
        self.producer.poll(0)

    def flush(self) -> None:
        if self.producer.flush(60) or self.errors:
            raise RuntimeError(f"replay publish failed: {self.errors or 'timed out'}")


# -- reprocess: models whose results another processor version made -----------------------------

@dataclass(frozen=True)
class Stale:
    model_id: str
    run_id: str
    versions: tuple[str, ...]      # the processor versions of its latest results
    event: Found


def stale_models(settings: Settings, *, since=None, version: str = PROCESSOR_VERSION,
                 workflow: str | None = None) -> list[Stale]:
    """The latest completed run of every model (since `since`), where any stage's result was made
    by a processor version other than `version`."""
    contract = default_manifest().by_name(names.COMPLETED)
    latest: dict[str, Found] = {}
    for found in read_range(settings, contract, start=since):
        p = found.record["payload"]
        if workflow is not None and p["workflow"] != workflow:
            continue
        prev = latest.get(p["model_id"])
        if prev is None or found.record["envelope"]["occurred_at"] >= prev.record["envelope"]["occurred_at"]:
            latest[p["model_id"]] = found
    out = []
    for model, found in sorted(latest.items()):
        versions = tuple(sorted({s["processor_version"] for s in found.record["payload"]["stages"]
                                 if s["status"] == "completed" and s["processor_version"]}))
        if any(v != version for v in versions):
            out.append(Stale(model, found.record["payload"]["run_id"], versions, found))
    return out


def reprocess(settings: Settings, *, since=None, workflow: str | None = None, version: str = PROCESSOR_VERSION,
              dry_run: bool = False, force: bool = False) -> list[tuple[Stale, str]]:
    """A new run for every stale model; returns (stale model, new run id). Stages whose input and
    processor version already have a result reuse it (streams.execution.context.reuse_or_work) unless
    `force`, which sends the runs with `skip_cache`."""
    stale = stale_models(settings, since=since, version=version, workflow=workflow)
    publisher = None if dry_run else _Publisher(settings)
    out = []
    for s in stale:
        env, payload = s.event.record["envelope"], s.event.record["payload"]
        target = workflow or payload["workflow"]
        new_id = derived_id("reprocess", env["event_id"], target, version)
        out.append((s, new_id))
        if publisher is not None:
            discovered = discovered_from(payload, new_id, target)
            if force:
                discovered["options"] = processing_options({**(discovered.get("options") or {}), "skip_cache": True})
            publisher.send(names.DISCOVERED, new_id, discovered,
                           correlation_id=new_id, causation_id=env["event_id"],
                           event_id=derived_id("reprocess-event", new_id))
    if publisher is not None:
        publisher.flush()
    return out


# -- reset a consumer group ------------------------------------------------------------------------

def reset_group(settings: Settings, group: str, to_time_ms: int, *, dry_run: bool = False,
                timeout: float = 15.0) -> list[TopicPartition]:
    """Move a consumer group's committed offsets to the first record at or after `to_time_ms` on
    every partition it has committed. Refused while the group has members: a live consumer would
    overwrite the new offsets with its own on its next commit."""
    admin = AdminClient(kafka_client_config(settings))
    (described,) = admin.describe_consumer_groups([group], request_timeout=timeout).values()
    desc = described.result()
    if desc.members:
        raise ReplayError(f"group {group} has {len(desc.members)} live member(s) ({desc.state}); stop its consumers first")
    from confluent_kafka import ConsumerGroupTopicPartitions

    (listed,) = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)],
                                                 request_timeout=timeout).values()
    committed = [tp for tp in listed.result().topic_partitions if tp.offset >= 0]
    if not committed:
        raise ReplayError(f"group {group} has no committed offsets")
    consumer = _consumer(settings)
    try:
        targets = []
        for tp in committed:
            (found,) = consumer.offsets_for_times([TopicPartition(tp.topic, tp.partition, to_time_ms)], timeout=timeout)
            if found.offset < 0:  # nothing at or after that time: the end of the partition
                found = TopicPartition(tp.topic, tp.partition,
                                       consumer.get_watermark_offsets(TopicPartition(tp.topic, tp.partition),
                                                                      timeout=timeout)[1])
            targets.append(TopicPartition(tp.topic, tp.partition, found.offset))
    finally:
        consumer.close()
    if not dry_run:
        (altered,) = admin.alter_consumer_group_offsets([ConsumerGroupTopicPartitions(group, targets)],
                                                        request_timeout=timeout).values()
        altered.result()
    return targets


# -- dead letters ----------------------------------------------------------------------------------

def read_dead_letters(settings: Settings, timeout: float = 10.0) -> list[DeadLetter]:
    """Every record on the dead-letter topic, oldest first (reads up to the current end)."""
    contract = default_manifest().by_name(names.DEAD_LETTERED)
    out: list[DeadLetter] = []
    for found in read_range(settings, contract, timeout=timeout):
        pl = found.record["payload"]
        out.append(DeadLetter(found.offset, found.partition, pl["original_topic"], pl["original_offset"],
                              pl["original_key"], pl["original_value"], pl["stage"], pl["error"]["code"],
                              pl["error"]["message"]))
    return out


def replay_dead_letters(settings: Settings, *, stage: str | None = None, code: str | None = None,
                        key: str | None = None, dry_run: bool = False) -> list[DeadLetter]:
    """Re-publish the matching dead letters' original records; returns what was (or would be) replayed."""
    chosen = [d for d in read_dead_letters(settings)
              if (stage is None or d.stage == stage) and (code is None or d.code == code)
              and (key is None or (d.original_key or b"").decode(errors="replace") == key)
              and d.original_value is not None]
    if dry_run or not chosen:
        return chosen
    producer = Producer(producer_config(settings))
    errors: list = []
    for d in chosen:
        producer.produce(d.original_topic, key=d.original_key, value=d.original_value,
                         on_delivery=lambda err, msg: errors.append(err) if err else None)
    if producer.flush(30) or errors:
        raise RuntimeError(f"replay failed: {errors or 'timed out'}")
    return chosen


def progress_bar(stream=sys.stderr, width: int = 30) -> Callable[[int, int], None]:
    """A one-line progress bar for a terminal (redrawn at most ten times a second)."""
    state = {"last": 0.0}

    def draw(done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - state["last"] < 0.1:
            return
        state["last"] = now
        filled = int(width * done / total) if total else width
        stream.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return draw
