"""What a replay will do, decided before anything is published (pure: no Kafka, unit-tested).

A replay (`replay topic`, `reprocess`, dead-letter replay) reads records, then plans:

* **Replayed copies are recognised by their causation chain** and add no runs of their own
  (unless `include_replayed`): an event published by a replay carries the replay's producer
  service and, as `causation_id`, the event it was made from; a discovery made by a replayed scan
  has the replayed scan request as its cause (whose event id is derived from its scan id); and
  every later event of a run a replay started (its terminal event, say) is recognised by that
  run's discovery (`RunIndex`).
* **One run per model.** Within a range a model's events collapse to one: the model's *latest
  original* event. Copies resolve to their original through `causation_id`, so a range holding an
  original and its replayed copy stands for the original alone. Among several originals (a model
  scanned on Monday and again on Tuesday) the latest wins: it names the files as they are now
  (their etags), where an older event may name objects that have since been replaced. For a
  fixed range the choice is stable, so the derived run id is too.
* **Runs that already exist are no-ops, and said so.** The new run's id is derived from the
  chosen event, the target workflow and the processor version; if a discovery with that run id
  is already on the discovery topic (`RunIndex.started`), an earlier replay started it and this
  one does nothing for that model. Limit: the index only knows what the discovery topic still
  holds (retention); a run whose discovery has expired is reported as new, though the
  orchestrator would still ignore it while its run table keeps the run.

The resulting `Summary` is the same for a dry run and a real one: the dry run plans the same way
and only skips the publishing.
"""
from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Iterable

from streams.core import names
from streams.core.envelope import derived_id

# services that publish replayed events (streams/client/replay.py's SERVICE)
REPLAY_SERVICE = "meshstream-replay"
# event-id prefixes of what replay and reprocess publish (derived_id(prefix, new id))
REPLAY_EVENT = "replay-event"
REPROCESS_EVENT = "reprocess-event"

# why an event was read but adds no run
NOT_AN_EVENT = "not an event"          # bytes that do not decode as the topic's contract
DUPLICATE = "duplicate"                # the same event id again (a redelivery)
FILTERED = "filtered out"              # another model, workflow, stage, code or key than asked
REPLAYED_COPY = "replayed copy"        # published by (or part of a run started by) an earlier replay
SUPERSEDED = "older event of the model"  # the model's latest original event stands for it
UP_TO_DATE = "up to date"              # reprocess: results already made by the wanted version
NO_BYTES = "no bytes kept"             # a dead letter without the original record


@dataclass(frozen=True)
class Found:
    """One record read from a topic range; `record` is None when it did not decode."""

    partition: int
    offset: int
    timestamp_ms: int
    record: dict | None


@dataclass(frozen=True)
class Item:
    """One unit of work of a replay: a run (or scan, or dead-lettered record) and where it came from."""

    id: str
    model_id: str | None
    caused_by: str | None
    workflow: str | None = None
    source: object = field(default=None, compare=False, repr=False)  # the Found / DeadLetter to publish from
    detail: str | None = None

    def as_dict(self) -> dict:
        return {"id": self.id, "model_id": self.model_id, "caused_by": self.caused_by, "workflow": self.workflow,
                "detail": self.detail}


@dataclass(frozen=True)
class Skip:
    reason: str
    partition: int | None
    offset: int | None
    event_id: str | None = None
    detail: str | None = None

    def as_dict(self) -> dict:
        return {"reason": self.reason, "partition": self.partition, "offset": self.offset,
                "event_id": self.event_id, "detail": self.detail}


@dataclass
class Summary:
    """What a replay did (or, dry, would do). `unit` names what `started` holds: runs, scans or records."""

    action: str
    unit: str = "run"
    dry_run: bool = False
    read: int = 0
    started: list[Item] = field(default_factory=list)
    already_started: list[Item] = field(default_factory=list)
    skipped: list[Skip] = field(default_factory=list)

    @property
    def models(self) -> list[str]:
        """The models this replay stands for: one run each, new or already started."""
        return sorted({i.model_id for i in self.started + self.already_started if i.model_id})

    def skipped_by_reason(self) -> dict[str, int]:
        return dict(sorted(collections.Counter(s.reason for s in self.skipped).items()))

    def as_dict(self) -> dict:
        return {"action": self.action, "unit": self.unit, "dry_run": self.dry_run, "read": self.read,
                "started": [i.as_dict() for i in self.started],
                "already_started": [i.as_dict() for i in self.already_started],
                "skipped_by_reason": self.skipped_by_reason(),
                "skipped": [s.as_dict() for s in self.skipped],
                "models": self.models}

    def text(self) -> str:
        new = "would start" if self.dry_run else "started"
        unit = self.unit
        if unit == "record":
            new = "would replay" if self.dry_run else "replayed"
        lines = [f"{self.action}{' (dry run: nothing published)' if self.dry_run else ''}",
                 f"  read {self.read} record(s); {len(self.models)} model(s) covered"]
        for i in self.started:
            lines.append(f"  {new} {unit} {i.id}" + (f" of model {i.model_id}" if i.model_id else "")
                         + (f" (from {i.caused_by})" if i.caused_by else ""))
        for i in self.already_started:
            lines.append(f"  no-op: {unit} {i.id}" + (f" of model {i.model_id}" if i.model_id else "")
                         + " was already " + ("replayed" if unit == "record" else "started by an earlier replay")
                         + (f" ({i.detail})" if i.detail else ""))
        reasons = self.skipped_by_reason()
        lines.append(f"{len(self.started)} {unit}(s) {new}; {len(self.already_started)} already "
                     + ("replayed (no-op)" if unit == "record" else "started by an earlier replay (no-op)")
                     + f"; {len(self.skipped)} skipped"
                     + (" (" + ", ".join(f"{n} {r}" for r, n in reasons.items()) + ")" if reasons else ""))
        if unit == "record":  # the phrase scripts (and the CLI test) look for
            lines.append(f"{len(self.started)} record(s) {new}")
        return "\n".join(lines)


# -- the causation chain -------------------------------------------------------------------------

@dataclass
class RunIndex:
    """What the discovery topic says about runs: which run ids exist (`started`), and which of
    them a replay started (`copies`: run id -> the event the replay was made from)."""

    started: set = field(default_factory=set)
    copies: dict = field(default_factory=dict)
    scans: set = field(default_factory=set)   # scan ids requested (for replays of scan requests)

    def add_discovery(self, record: dict) -> None:
        env, payload = record["envelope"], record["payload"]
        self.started.add(payload["run_id"])
        origin = _published_by_replay(env, payload)
        if origin is not None:
            self.copies[payload["run_id"]] = origin

    def add_scan(self, record: dict) -> None:
        self.scans.add(record["payload"]["scan_id"])


def _published_by_replay(env: dict, payload: dict) -> str | None:
    """The event a replayed event was made from, or None for an original event.

    Two links of the chain need no lookup: the replay's own events (its producer service, with the
    original as cause), and discoveries of a replayed scan (their cause is the replayed scan
    request, whose event id is derived from the scan id)."""
    if (env.get("producer") or {}).get("service") == REPLAY_SERVICE:
        return env.get("causation_id") or "an earlier replay"
    scan_id = payload.get("scan_id")
    if scan_id and env.get("causation_id") == derived_id(REPLAY_EVENT, scan_id):
        return f"replayed scan {scan_id}"
    return None


def copy_of(record: dict, index: RunIndex) -> str | None:
    """The original a record is a replayed copy of (an event id, or a description), else None.
    Events of a run a replay started (a terminal event, say) are copies through the run's discovery."""
    env, payload = record["envelope"], record["payload"]
    origin = _published_by_replay(env, payload)
    if origin is None and payload.get("run_id") in index.copies:
        origin = index.copies[payload["run_id"]]
    return origin


def _later(a: Found, b: Found) -> bool:
    """Whether `a` happened after `b` (producer time, then broker time, then position)."""
    def key(f: Found):
        return (f.record["envelope"].get("occurred_at") or 0, f.timestamp_ms, f.partition, f.offset)
    return key(a) > key(b)


def collapse_key(contract_name: str, payload: dict) -> str:
    """What a replay makes one run (or scan) for: a model, or for scan requests the folder scanned."""
    if contract_name == names.SCAN_REQUESTED:
        return f"{payload.get('storage') or 'default'}:{payload.get('bucket')}/{payload.get('prefix') or ''}"
    return payload["model_id"]


def plan_topic(found: Iterable[Found], *, contract_name: str, topic: str, version: str, index: RunIndex,
               workflow: str | None = None, model_id: str | None = None, include_replayed: bool = False,
               dry_run: bool = False) -> Summary:
    """The summary of replaying a range: one item per model (see the module docstring), each new
    or already started; every other record read is skipped with its reason."""
    scans = contract_name == names.SCAN_REQUESTED
    summary = Summary(f"replay of {topic}" + (f" as workflow {workflow}" if workflow else ""),
                      unit="scan" if scans else "run", dry_run=dry_run)
    seen: set[str] = set()
    chosen: dict[str, Found] = {}
    for f in found:
        summary.read += 1
        if f.record is None:
            summary.skipped.append(Skip(NOT_AN_EVENT, f.partition, f.offset))
            continue
        env, payload = f.record["envelope"], f.record["payload"]
        eid = env["event_id"]
        if eid in seen:
            summary.skipped.append(Skip(DUPLICATE, f.partition, f.offset, eid))
            continue
        seen.add(eid)
        if model_id is not None and payload.get("model_id") != model_id:
            summary.skipped.append(Skip(FILTERED, f.partition, f.offset, eid, f"model {payload.get('model_id')}"))
            continue
        origin = copy_of(f.record, index)
        if origin is not None and not include_replayed:
            summary.skipped.append(Skip(REPLAYED_COPY, f.partition, f.offset, eid, f"copy of {origin}"))
            continue
        key = collapse_key(contract_name, payload)
        prev = chosen.get(key)
        if prev is None:
            chosen[key] = f
        else:
            older, chosen[key] = (prev, f) if _later(f, prev) else (f, prev)
            summary.skipped.append(Skip(SUPERSEDED, older.partition, older.offset,
                                        older.record["envelope"]["event_id"],
                                        f"{key}'s later event {chosen[key].record['envelope']['event_id']} stands for it"))
    for key, f in chosen.items():
        env, payload = f.record["envelope"], f.record["payload"]
        target = workflow or payload.get("workflow") or "standard"
        new_id = derived_id("replay", env["event_id"], target, version)
        item = Item(new_id, None if scans else payload.get("model_id"), env["event_id"], target, f)
        exists = new_id in (index.scans if scans else index.started)
        (summary.already_started if exists else summary.started).append(item)
    return summary


def plan_reprocess(latest: Iterable[tuple[Found, tuple[str, ...]]], *, version: str, index: RunIndex,
                   workflow: str | None = None, dry_run: bool = False, read: int = 0,
                   skipped: Iterable[Skip] = ()) -> Summary:
    """The summary of reprocessing: `latest` is each model's latest completion and the processor
    versions of its results; a model whose results are all `version` is up to date. Results of
    replayed runs count like any other (reprocess is about the results a model has)."""
    summary = Summary(f"reprocess to processor version {version}" + (f" (workflow {workflow})" if workflow else ""),
                      dry_run=dry_run, read=read, skipped=list(skipped))
    for f, versions in latest:
        env, payload = f.record["envelope"], f.record["payload"]
        if all(v == version for v in versions):
            summary.skipped.append(Skip(UP_TO_DATE, f.partition, f.offset, env["event_id"],
                                        f"model {payload['model_id']}"))
            continue
        target = workflow or payload["workflow"]
        new_id = derived_id("reprocess", env["event_id"], target, version)
        item = Item(new_id, payload["model_id"], env["event_id"], target, f)
        (summary.already_started if new_id in index.started else summary.started).append(item)
    return summary


def latest_completions(found: Iterable[Found], *, workflow: str | None = None
                       ) -> tuple[list[tuple[Found, tuple[str, ...]]], int, list[Skip]]:
    """Each model's latest completion (with the processor versions of its completed stages), how
    many records were read, and why the others were skipped."""
    latest: dict[str, Found] = {}
    read, skipped = 0, []
    for f in found:
        read += 1
        if f.record is None:
            skipped.append(Skip(NOT_AN_EVENT, f.partition, f.offset))
            continue
        p, eid = f.record["payload"], f.record["envelope"]["event_id"]
        if workflow is not None and p["workflow"] != workflow:
            skipped.append(Skip(FILTERED, f.partition, f.offset, eid, f"workflow {p['workflow']}"))
            continue
        prev = latest.get(p["model_id"])
        if prev is not None and prev.record["envelope"]["event_id"] == eid:
            skipped.append(Skip(DUPLICATE, f.partition, f.offset, eid))
            continue
        if prev is None or not _later(prev, f):
            latest[p["model_id"]], older = f, prev
        else:
            older = f
        if older is not None:
            skipped.append(Skip(SUPERSEDED, older.partition, older.offset, older.record["envelope"]["event_id"],
                                f"model {p['model_id']}"))
    out = []
    for model, f in sorted(latest.items()):
        versions = tuple(sorted({s["processor_version"] for s in f.record["payload"]["stages"]
                                 if s["status"] == "completed" and s["processor_version"]}))
        out.append((f, versions))
    return out, read, skipped


# -- dead letters --------------------------------------------------------------------------------

def plan_dead_letters(letters: Iterable, *, republished, model_of=lambda d: None, stage: str | None = None,
                      code: str | None = None, key: str | None = None, at: tuple[int, int] | None = None,
                      dry_run: bool = False) -> Summary:
    """The summary of putting dead letters back on their topics.

    `letters` are DeadLetter records (oldest first); `republished(d)` says where the dead letter's
    original record (same key and bytes) appears on its topic *after* it was dead-lettered (a
    position, or None). Rules, like a topic replay: the same record dead-lettered more than once
    (two consumer groups, or a replay that failed again) collapses to its latest dead letter; a
    record that is back on its topic since then was already replayed (a no-op: consumers would
    drop the same event id anyway); filtered-out and byteless dead letters are skipped."""
    summary = Summary("replay of dead letters", unit="record", dry_run=dry_run)
    chosen: dict[tuple, object] = {}
    for d in letters:
        summary.read += 1
        where = f"{d.partition}:{d.offset}"
        if at is not None and (d.partition, d.offset) != tuple(at) or \
                stage is not None and d.stage != stage or code is not None and d.code != code or \
                key is not None and (d.original_key or b"").decode(errors="replace") != key:
            summary.skipped.append(Skip(FILTERED, d.partition, d.offset, None, f"{d.stage}: {d.code}"))
            continue
        if d.original_value is None:
            summary.skipped.append(Skip(NO_BYTES, d.partition, d.offset, None, d.original_topic))
            continue
        record = (d.original_topic, d.original_key, d.original_value)
        prev = chosen.get(record)
        chosen[record] = d
        if prev is not None:
            summary.skipped.append(Skip(DUPLICATE, prev.partition, prev.offset, None,
                                        f"the same record was dead-lettered again at {where}"))
    for d in chosen.values():
        back = republished(d)
        item = Item(f"{d.partition}:{d.offset}", model_of(d), f"{d.original_topic}@{d.original_offset}", None, d,
                    None if back is None else f"back on {d.original_topic} at {back[0]}:{back[1]}")
        (summary.started if back is None else summary.already_started).append(item)
    return summary
