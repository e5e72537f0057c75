"""Replay: reprocess models on purpose, safely.

Every tool here reads first, plans with streams/client/replay_plan.py (one run per model,
replayed copies recognised by their causation chain, runs that already exist reported as no-ops),
and only then publishes what the plan says; a dry run stops before publishing, so it prints the
same `Summary`.

* `replay_dead_letters`: put dead-lettered records back on their original topics after a fix
  (same key and bytes, so the same event ids; every consumer is idempotent).
* `replay_topic`: read a range of a topic (offsets or times, a partition, a model) and publish a
  *new run* per model, linked to the event it was made from by `causation_id`. The new run id is
  derived from that event, the target workflow and the processor version, so the same range
  replayed twice maps onto the same runs (and the second replay says they exist).
* `reprocess`: new runs for models whose latest results were made by another processor version.
* `reset_group`: rewind a consumer group to a time, for operators who prefer that (refused while
  the group has live members).
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Callable, Iterator

from confluent_kafka import OFFSET_END, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

from processors.version import PROCESSOR_VERSION
from registry.manifest import Contract, default_manifest
from registry.serde import AvroSerde, SerdeError, registry_client
from streams.client import processing_options, producer_config
from streams.core.envelope import derived_id, envelope
from streams.core.security import kafka_client_config
from streams.core.settings import Settings
from streams.orchestration.workflow import runnable
from streams.core import names
from streams.client.replay_plan import (REPLAY_EVENT, REPLAY_SERVICE, REPROCESS_EVENT, Found, RunIndex, Summary,
                                        latest_completions, plan_dead_letters, plan_reprocess, plan_topic)

SERVICE = REPLAY_SERVICE  # how a later replay recognises what this one published
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
    original_partition: int | None = None
    timestamp_ms: int = 0   # when it was dead-lettered (the broker's record time)


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
    end of each partition when the read began), oldest first per partition. A record that does
    not decode as the contract (the pipeline dead-lettered it) comes with `record` None."""
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
                    record = serde.decode(msg.value(), contract)
                except SerdeError:
                    record = None
                yield Found(p, msg.offset(), msg.timestamp()[1], record)
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


def run_index(settings: Settings, *, scans: bool = False,
              progress: Callable[[int, int], None] | None = None) -> RunIndex:
    """Every run the discovery topic knows (and, for scan replays, every requested scan id).

    Why the discovery topic rather than the orchestrator's run table (GET /runs/{id}): every run
    begins with exactly one discovery carrying its run id, whoever published it, and reading the
    topic needs only the broker the replay already uses (no worker, URL or token). Limits: it is
    read whole (within retention), which is the slow part of replaying on a very large topic; and
    a run whose discovery has expired is not known (see streams/client/replay_plan.py)."""
    manifest = default_manifest()
    index = RunIndex()
    for found in read_range(settings, manifest.by_name(names.DISCOVERED), progress=progress):
        if found.record is not None:
            index.add_discovery(found.record)
    if scans:
        for found in read_range(settings, manifest.by_name(names.SCAN_REQUESTED)):
            if found.record is not None:
                index.add_scan(found.record)
    return index


def replay_topic(settings: Settings, topic: str, *, start=None, end=None, partition: int | None = None,
                 model_id: str | None = None, workflow: str | None = None, dry_run: bool = False,
                 include_replayed: bool = False, progress: Callable[[int, int], None] | None = None) -> Summary:
    """A new run (or scan) per model of the range, unless an earlier replay started it already;
    the rules are streams/client/replay_plan.py's. The dry run plans the same and publishes nothing."""
    manifest = default_manifest()
    contract = next((c for c in manifest.contracts if topic in (c.topic, c.name)), None)
    if contract is None:
        raise ReplayError(f"unknown topic {topic!r}")
    if contract.name not in REPLAYABLE:
        raise ReplayError(f"{contract.topic} cannot be replayed as new runs; replayable: "
                          + ", ".join(manifest.by_name(n).topic for n in REPLAYABLE))
    if workflow is not None:
        runnable(workflow)  # refuse unknown/planned workflows before publishing anything
    # the range is read before the index: a run a replay published meanwhile is then known as started
    found = list(read_range(settings, contract, start=start, end=end, partition=partition, progress=progress))
    index = run_index(settings, scans=contract.name == names.SCAN_REQUESTED)
    summary = plan_topic(found, contract_name=contract.name, topic=contract.topic, version=PROCESSOR_VERSION,
                         index=index, workflow=workflow, model_id=model_id, include_replayed=include_replayed,
                         dry_run=dry_run)
    if dry_run or not summary.started:
        return summary
    publisher = _Publisher(settings)
    for item in summary.started:
        publisher.send(item.id, *new_run_event(contract.name, item))
    publisher.flush()
    return summary


def new_run_event(contract_name: str, item, *, prefix: str = REPLAY_EVENT, skip_cache: bool = False
                  ) -> tuple[str, dict]:
    """The event that starts a planned item's new run (a discovery) or scan (a scan request):
    `(contract name, {"envelope", "payload"})`. Its envelope is the causation chain a later replay
    follows: this service as producer, the event it was made from as `causation_id`, and an event
    id derived from the new id (so a second publish of it is the same event)."""
    env_in, payload = item.source.record["envelope"], item.source.record["payload"]
    if contract_name == names.SCAN_REQUESTED:
        name, out = names.SCAN_REQUESTED, {**payload, "scan_id": item.id, "workflow": item.workflow}
    else:
        name, out = names.DISCOVERED, discovered_from(payload, item.id, item.workflow)
    if skip_cache:
        out["options"] = processing_options({**(out.get("options") or {}), "skip_cache": True})
    env = envelope(SERVICE, item.id, env_in["event_id"], event_id=derived_id(prefix, item.id))
    return name, {"envelope": env, "payload": out}


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

    def send(self, key: str, name: str, record: dict) -> None:
        contract = self.manifest.by_name(name)
        value = self.serde.encode(contract, record)
        self.producer.produce(contract.topic, key=key.encode(), value=value,
                              on_delivery=lambda err, msg: self.errors.append(err) if err else None)
        self.producer.poll(0)

    def flush(self) -> None:
        if self.producer.flush(60) or self.errors:
            raise RuntimeError(f"replay publish failed: {self.errors or 'timed out'}")


# -- reprocess: models whose results another processor version made -----------------------------

def reprocess(settings: Settings, *, since=None, workflow: str | None = None, version: str = PROCESSOR_VERSION,
              dry_run: bool = False, force: bool = False) -> Summary:
    """A new run for every model whose latest completion (since `since`) holds a result made by
    another processor version than `version`, unless an earlier reprocess started that run already
    (its id is derived from the completion, the workflow and `version`). Stages whose input and
    processor version already have a result reuse it (streams.execution.context.reuse_or_work)
    unless `force`, which sends the runs with `skip_cache`."""
    contract = default_manifest().by_name(names.COMPLETED)
    latest, read, skipped = latest_completions(read_range(settings, contract, start=since), workflow=workflow)
    summary = plan_reprocess(latest, version=version, index=run_index(settings), workflow=workflow,
                             dry_run=dry_run, read=read, skipped=skipped)
    if dry_run or not summary.started:
        return summary
    publisher = _Publisher(settings)
    for item in summary.started:
        publisher.send(item.id, *new_run_event(names.COMPLETED, item, prefix=REPROCESS_EVENT, skip_cache=force))
    publisher.flush()
    return summary


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

def read_dead_letters(settings: Settings, timeout: float = 10.0, *, at: tuple[int, int] | None = None
                      ) -> list[DeadLetter]:
    """Every record on the dead-letter topic (or only the one at partition:offset `at`), oldest first."""
    contract = default_manifest().by_name(names.DEAD_LETTERED)
    bounds = {} if at is None else {"partition": at[0], "start": ("offset", at[1]), "end": ("offset", at[1] + 1)}
    out: list[DeadLetter] = []
    for found in read_range(settings, contract, timeout=timeout, **bounds):
        if found.record is None:
            continue
        pl = found.record["payload"]
        out.append(DeadLetter(found.offset, found.partition, pl["original_topic"], pl["original_offset"],
                              pl["original_key"], pl["original_value"], pl["stage"], pl["error"]["code"],
                              pl["error"]["message"], pl.get("original_partition"), found.timestamp_ms))
    return out


def _republished(settings: Settings, letters: list[DeadLetter], timeout: float = 10.0):
    """`republished(d)` for plan_dead_letters: where the dead letter's original record (same key
    and bytes) is on its topic again, at another position and no earlier than the dead letter.
    Reads each original topic once, raw, from the earliest such dead letter's time. Limit: the
    comparison of times assumes the clocks of the worker and the replaying host roughly agree."""
    wanted: dict[str, int] = {}
    for d in letters:
        if d.original_value is not None:
            wanted[d.original_topic] = min(wanted.get(d.original_topic, d.timestamp_ms), d.timestamp_ms)
    seen: dict[tuple, list] = {}
    consumer = _consumer(settings)
    try:
        for topic, since in wanted.items():
            meta = consumer.list_topics(topic, timeout=timeout).topics.get(topic)
            if meta is None or meta.error is not None:
                continue
            for p in sorted(meta.partitions):
                lo, hi = _bounds(consumer, topic, p, ("time", since), None, timeout)
                if hi <= lo:
                    continue
                consumer.assign([TopicPartition(topic, p, lo)])
                while True:
                    msg = consumer.poll(timeout)
                    if msg is None:
                        raise ReplayError(f"{topic}[{p}] stalled before offset {hi}")
                    if msg.error():
                        continue
                    seen.setdefault((topic, msg.key(), msg.value()), []).append((p, msg.offset(), msg.timestamp()[1]))
                    if msg.offset() >= hi - 1:
                        break
    finally:
        consumer.close()

    def republished(d: DeadLetter):
        for p, o, ts in seen.get((d.original_topic, d.original_key, d.original_value), []):
            if (p, o) != (d.original_partition, d.original_offset) and ts >= d.timestamp_ms:
                return p, o
        return None

    return republished


def _model_of(serde: AvroSerde):
    """The model a dead letter's original record was about, when it decodes (poison does not)."""
    manifest = default_manifest()

    def model_of(d: DeadLetter) -> str | None:
        try:
            record = serde.decode(d.original_value, manifest.by_topic(d.original_topic))
        except (KeyError, SerdeError, TypeError):
            return None
        return (record.get("payload") or {}).get("model_id")

    return model_of


def replay_dead_letters(settings: Settings, *, stage: str | None = None, code: str | None = None,
                        key: str | None = None, at: tuple[int, int] | None = None,
                        dry_run: bool = False) -> Summary:
    """Re-publish the matching dead letters' original records (same key and bytes, so the same
    event ids), by the rules of replay_plan.plan_dead_letters; `at` picks one dead letter
    (partition, offset), as the console's replay button does."""
    letters = read_dead_letters(settings, at=at)
    chosen = [d for d in letters if (stage is None or d.stage == stage) and (code is None or d.code == code)]
    summary = plan_dead_letters(letters, republished=_republished(settings, chosen),
                                model_of=_model_of(AvroSerde(registry_client(settings))),
                                stage=stage, code=code, key=key, at=at, dry_run=dry_run)
    if dry_run or not summary.started:
        return summary
    producer = Producer(producer_config(settings))
    errors: list = []
    for item in summary.started:
        d = item.source
        producer.produce(d.original_topic, key=d.original_key, value=d.original_value,
                         on_delivery=lambda err, msg: errors.append(err) if err else None)
    if producer.flush(30) or errors:
        raise RuntimeError(f"replay failed: {errors or 'timed out'}")
    return summary


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
