"""The shape every processing stage shares, so each stage module is only its own work.

A stage consumes `<stage>.requested`, runs its blocking `work(ctx, payload) -> dict` in the
processor pool (streams/execution/pool.py: other processes, all cores), and emits `<stage>.completed`
(request identity + the dict) or `<stage>.failed` (request identity + ErrorInfo). The output's
event id is derived from the input's id and the processor version, so a redelivered request
yields the same event, which the orchestrator ignores the second time.

`StageContext` is what `work` may use: settings, storage by connection name, and the parsed
meshes of a model's files, parsed once per pipeline run (processors/meshcache.py): the first
stage that loads a file stores the parsed form beside the cached copy; later stages decode it.
"""
from __future__ import annotations

import hashlib
import json
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Callable

from cachetools import LRUCache

from processors import meshcache
from processors.errors import ProcessingError
from processors.loading import Limits, LoadedMesh, load_mesh, with_units
from processors.model import PROCESSOR_VERSION, _reraise_with_key, assemble
from processors.storage import get_bytes, put_bytes, put_json
from streams.core.settings import Settings
from streams.execution.background_io import upload_threads, write_behind
from streams.execution.turns import turns

PARSED_PREFIX = "parsed"
REUSE_PREFIX = "results"
# parsed forms this process stored or read lately, by parsed_key (content and loader version, so
# an entry never goes stale): a model's later stages that land on the same pool process decode it
# from memory instead of reading it back from S3 (about 35 S3 requests per model, each costing the
# S3 server CPU beside the geometry). Bounded by bytes; one per process.
PARSED_MEMO_BYTES = 128 * 1024 * 1024
_parsed_memo: LRUCache = LRUCache(maxsize=PARSED_MEMO_BYTES, getsizeof=len)
_parsed_memo_lock = threading.Lock()  # the worker's own process may call stages from threads


def remember_parsed(key: str, data: bytes) -> None:
    """Keep a parsed form this process just stored or read (too big for the memo: not kept)."""
    if len(data) <= PARSED_MEMO_BYTES // 4:
        with _parsed_memo_lock:
            _parsed_memo[key] = data


def recall_parsed(key: str) -> bytes | None:
    with _parsed_memo_lock:
        return _parsed_memo.get(key)


@dataclass
class StageContext:
    """What a stage's blocking work may use: storage I/O and settings, no Kafka. One per stage
    and process (the worker's, or a processor pool process)."""

    settings: Settings
    stage: str
    storage: object  # streams.execution.storages.Storages: connection name -> S3 client

    @property
    def limits(self) -> Limits:
        return Limits(max_bytes=self.settings.max_object_bytes)

    def read(self, ref: dict, max_bytes: int | None = None) -> bytes:
        limit = self.settings.max_object_bytes if max_bytes is None else min(max_bytes, self.settings.max_object_bytes)
        return _get(self.storage(ref["storage"]), ref["bucket"], ref["key"], limit)

    def read_files(self, refs: list[dict]) -> list[tuple[str, bytes]]:
        return [(ref["key"], self.read(ref)) for ref in refs]

    # -- parsed meshes, once per run -------------------------------------------------------
    def load_files(self, refs: list[dict], skip_cache: bool = False,
                   units: str | None = None) -> list[tuple[str, LoadedMesh]]:
        """Every file of a model, parsed: from its stored parsed form when one exists, else
        parsed from the bytes (typed errors name the file) and stored for the stages after.
        `units` (a request's override) is applied after loading: the stored form keeps the file's."""
        return [(ref["key"], with_units(self.load(ref, skip_cache), units)) for ref in refs]

    def load_model(self, refs: list[dict], skip_cache: bool = False, units: str | None = None):
        """(assembly, parts) of a model's files, as processors.model.load_assembly gives."""
        return assemble(self.load_files(refs, skip_cache, units), self.limits)

    def load(self, ref: dict, skip_cache: bool = False) -> LoadedMesh:
        key = parsed_key(ref)
        bucket = self.settings.cache_bucket
        if key is not None and not skip_cache:
            try:
                data = recall_parsed(key)
                if data is None:
                    data = _get(self.storage("default"), bucket, key, self.settings.max_object_bytes * 4)
                    remember_parsed(key, data)
                return meshcache.decode(data, self.limits)
            except ProcessingError as exc:
                if exc.code not in ("object_missing", "corrupt_mesh"):
                    raise
        try:
            loaded = load_mesh(self.read(ref), ref["key"], self.limits)
        except ProcessingError as exc:
            raise _reraise_with_key(exc, ref["key"]) from exc
        if key is not None:
            self.store_parsed(key, loaded)
        return loaded

    def store_parsed(self, key: str, loaded: LoadedMesh) -> None:
        """Store a file's parsed form in the cache bucket for the stages after, and remember it here."""
        data = meshcache.encode(loaded)
        put_bytes(self.storage("default"), self.settings.cache_bucket, key, data, "application/octet-stream")
        remember_parsed(key, data)

    # -- results ---------------------------------------------------------------------------
    def _ref(self, bucket: str, key: str, etag: str, size: int) -> dict:
        return {"storage": "default", "bucket": bucket, "key": key, "etag": etag, "size_bytes": size}

    def store_result(self, model_id: str, name: str, document: dict) -> dict:
        """Write a JSON result next to the model's other results; returns its ObjectRef."""
        key = result_key(model_id, self.stage, name)
        etag, size = put_json(self.storage("default"), self.settings.results_bucket, key,
                              {"processor_version": PROCESSOR_VERSION, **document})
        return self._ref(self.settings.results_bucket, key, etag, size)

    def store_bytes(self, bucket: str, key: str, data: bytes, content_type: str, metadata: dict | None = None) -> dict:
        etag = put_bytes(self.storage("default"), bucket, key, data, content_type, metadata)
        return self._ref(bucket, key, etag, len(data))

    def store_many(self, bucket: str, objects: list[tuple[str, bytes, str]]) -> list[dict]:
        """Store (key, data, content_type) objects with their round trips overlapped; their refs
        in order. Every put has finished when this returns or raises (the first failure in order:
        puts are idempotent, so a retried step rewrites the ones that did land)."""
        if len(objects) < 2:
            return [self.store_bytes(bucket, key, data, content_type) for key, data, content_type in objects]
        futures = [upload_threads().submit(self.store_bytes, bucket, key, data, content_type)
                   for key, data, content_type in objects]
        return _results(futures)

    def store_bytes_soon(self, bucket: str, key: str, data: bytes, content_type: str,
                         metadata: dict | None = None) -> Callable[[], dict]:
        """Start storing one object; returns a call that gives its ref once the put has finished
        (or raises its error). The put's round trip overlaps whatever the step does before it
        calls: the download stage parses the file meanwhile."""
        future = upload_threads().submit(self.store_bytes, bucket, key, data, content_type, metadata)
        return lambda: _results([future])[0]


def _get(client, bucket: str, key: str, max_bytes: int) -> bytes:
    """One object's bytes. Receiving its body is waiting on the network, like sending its request
    (turns.TurnYieldingPoolManager): another step of this process computes meanwhile."""
    with turns.waiting():
        return get_bytes(client, bucket, key, max_bytes)


def _results(futures: list[Future]) -> list:
    """The futures' results in order, after every one has finished; the first failure in order is
    raised. The wait is not a turn at computing: another step of this process computes meanwhile."""
    with turns.waiting():
        errors = [f.exception() for f in futures]
    first = next((e for e in errors if e is not None), None)
    if first is not None:
        raise first
    return [f.result() for f in futures]


# request fields that say how to run a step, not what it computes: left out of the reuse key
NOT_INPUT = ("run_id", "skip_cache", "input_is_new")


def run_work(ctx: StageContext, stage_module, payload: dict, reuse: bool = True) -> dict:
    """A stage module's `work` on one request, through the result reuse below unless `reuse` is
    off or the module keeps its own (`REUSE_RESULTS = False`: the download stage's cache bucket)."""
    if reuse and getattr(stage_module, "REUSE_RESULTS", True):
        return reuse_or_work(ctx, stage_module.work, payload)
    return stage_module.work(ctx, payload)


def reuse_key(stage: str, payload: dict) -> str:
    """Where a stage's result for exactly this input is kept: the stage, the processor version
    and the request without its run id (files are named by content: ETags, result documents)."""
    request = {k: v for k, v in payload.items() if k not in NOT_INPUT}
    digest = hashlib.sha256(json.dumps([stage, PROCESSOR_VERSION, request], sort_keys=True, default=str).encode())
    return f"{REUSE_PREFIX}/{stage}/{digest.hexdigest()}.json"


def reuse_or_work(ctx: StageContext, work, payload: dict) -> dict:
    """The stage's result for this input and processor version if one was made before (a replay,
    a reprocess of unchanged models), else `work`'s, kept for the next time. `skip_cache` in the
    request (`meshstream reprocess --force`, `scan --skip-cache`) always works afresh, and
    `input_is_new` (the orchestrator's word that this run's download stored every file for the
    first time and this is the step's first attempt: no result for the input can exist yet) skips
    the lookup, a GET that could only miss. The record is written behind the step's answer: a
    record lost with its process only means the next run of the input works afresh."""
    key = reuse_key(ctx.stage, payload)
    bucket, client = ctx.settings.cache_bucket, ctx.storage("default")
    if not payload.get("skip_cache") and not payload.get("input_is_new"):
        try:
            return json.loads(_get(client, bucket, key, ctx.settings.max_object_bytes))
        except ProcessingError as exc:
            if exc.code != "object_missing":
                raise
    result = work(ctx, payload)
    write_behind.submit(put_json, client, bucket, key, result)  # off the step's path (background_io)
    return result


def parsed_key(ref: dict) -> str | None:
    """Where the parsed form of a file is stored: content (ETag and size) and loader version.
    None for an object without an ETag (nothing identifies its content)."""
    etag = (ref.get("etag") or "").strip('"')
    if not etag:
        return None
    ext = ref["key"].rsplit(".", 1)[-1].lower() if "." in ref["key"] else "bin"
    return f"{PARSED_PREFIX}/v{meshcache.FORMAT_VERSION}/{etag}-{ref.get('size_bytes', 0)}.{ext}.mesh"


def result_key(model_id: str, stage: str, name: str) -> str:
    """Where a stage stores a result document of a model: `<model_id>/<stage>/<name>`."""
    return f"{model_id}/{stage}/{name}"


def stage_of_result(ref: dict) -> str:
    """The stage that stored the result document `ref` points at (inverse of result_key)."""
    return ref["key"].split("/")[-2]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
