"""The shape every processing stage shares, so each stage module is only its own work.

A stage consumes `<stage>.requested`, runs a blocking `work(ctx, payload) -> dict` in the
processor pool, and emits `<stage>.completed` (request identity + the dict) or `<stage>.failed`
(request identity + ErrorInfo). The output's event id is derived from the input's id and the
processor version, so a redelivered request yields the same event, which the orchestrator
ignores the second time.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from typing import Callable

from processors.loading import Limits
from processors.model import PROCESSOR_VERSION
from processors.storage import get_bytes, put_bytes, put_json
from streams import metrics
from streams.envelope import derived_id, envelope
from streams.runtime import error_info, log

IDENTITY = ("run_id", "model_id")


@dataclass
class StageContext:
    """What a stage's blocking work may use: storage I/O and settings, no Kafka."""

    rt: object
    stage: str

    @property
    def settings(self):
        return self.rt.settings

    @property
    def limits(self) -> Limits:
        return Limits(max_bytes=self.settings.max_object_bytes)

    def read(self, ref: dict) -> bytes:
        return get_bytes(self.rt.storage(ref["storage"]), ref["bucket"], ref["key"], self.settings.max_object_bytes)

    def read_files(self, refs: list[dict]) -> list[tuple[str, bytes]]:
        return [(ref["key"], self.read(ref)) for ref in refs]

    def _ref(self, bucket: str, key: str, etag: str, size: int) -> dict:
        return {"storage": "default", "bucket": bucket, "key": key, "etag": etag, "size_bytes": size}

    def store_result(self, model_id: str, name: str, document: dict) -> dict:
        """Write a JSON result next to the model's other results; returns its ObjectRef."""
        key = result_key(model_id, self.stage, name)
        etag, size = put_json(self.rt.storage("default"), self.settings.results_bucket, key,
                              {"processor_version": PROCESSOR_VERSION, **document})
        return self._ref(self.settings.results_bucket, key, etag, size)

    def store_bytes(self, bucket: str, key: str, data: bytes, content_type: str, metadata: dict | None = None) -> dict:
        etag = put_bytes(self.rt.storage("default"), bucket, key, data, content_type, metadata)
        return self._ref(bucket, key, etag, len(data))


def result_key(model_id: str, stage: str, name: str) -> str:
    """Where a stage stores a result document of a model: `<model_id>/<stage>/<name>`."""
    return f"{model_id}/{stage}/{name}"


def stage_of_result(ref: dict) -> str:
    """The stage that stored the result document `ref` points at (inverse of result_key)."""
    return ref["key"].split("/")[-2]


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def register_stage(stage: str, work: Callable[[StageContext, dict], dict]) -> Callable:
    """Build the `register(app, rt)` function of a stage module."""

    def register(app, rt) -> None:
        ctx = StageContext(rt, stage)

        async def handle(rt, contract, record: dict) -> None:
            env_in, payload = record["envelope"], record["payload"]
            identity = {k: payload[k] for k in IDENTITY}
            env = envelope(stage, env_in["correlation_id"], env_in["event_id"],
                           event_id=derived_id(stage, env_in["event_id"], PROCESSOR_VERSION), version=PROCESSOR_VERSION)
            started = time.monotonic()
            try:
                with metrics.POOL_BUSY.track_inprogress():
                    result = await rt.run_blocking(work, ctx, payload)
                # encoding validates the contract's constraints: a result that breaks them is a
                # failure of this stage, reported as such, never a run left waiting
                value = rt.encode(f"{stage}.completed", {"envelope": env, "payload": {**identity, **result}})
            except Exception as exc:  # noqa: BLE001 - every failure becomes a failed event with its reason
                failed = rt.manifest.stage(stage, "failed")
                extra = {k: payload[k] for k in _field_names(failed) if k in payload and k not in identity and k != "error"}
                error = error_info(exc)
                log.info("%s failed run=%s model=%s in %.2fs: %s: %s", stage, payload["run_id"], payload["model_id"],
                         time.monotonic() - started, error["code"], error["message"][:200])
                metrics.stage_done(stage, time.monotonic() - started, code=error["code"])
                await rt.send(f"{stage}.failed", payload["run_id"], {**identity, **extra, "error": error}, env)
                return
            log.info("%s completed run=%s model=%s in %.2fs", stage, payload["run_id"], payload["model_id"],
                     time.monotonic() - started)
            await rt.send_encoded(f"{stage}.completed", payload["run_id"], value)
            metrics.stage_done(stage, time.monotonic() - started, result)

        @app.agent(rt.topic(f"{stage}.requested"), name=stage)
        async def agent(stream):
            await rt.consume(stream, stage, handle)

    return register


def _field_names(contract) -> list[str]:
    payload = next(f for f in contract.schema["fields"] if f["name"] == "payload")["type"]
    return [f["name"] for f in payload["fields"]]
