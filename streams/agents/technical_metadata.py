"""Stage agent: technical metadata of a model (all its files measured as one assembly)."""
from __future__ import annotations

from processors.loading import Limits
from processors.model import PROCESSOR_VERSION, measure_model
from processors.storage import get_bytes, put_json
from streams.envelope import derived_id, envelope
from streams.runtime import error_info

STAGE = "technical-metadata"


def register(app, rt) -> None:
    @app.agent(rt.topic(f"{STAGE}.requested"), name=STAGE)
    async def technical_metadata(stream):
        await rt.consume(stream, STAGE, handle)


def _measure(rt, payload: dict):
    files = []
    for ref in payload["files"]:
        client = rt.storage(ref["storage"])
        files.append((ref["key"], get_bytes(client, ref["bucket"], ref["key"], rt.settings.max_object_bytes)))
    md = measure_model(files, Limits(max_bytes=rt.settings.max_object_bytes))
    key = f"{payload['model_id']}/technical-metadata.json"
    etag, size = put_json(rt.storage("default"), rt.settings.results_bucket, key,
                          {"model_id": payload["model_id"], "processor_version": PROCESSOR_VERSION, **md.as_dict()})
    result = {"storage": "default", "bucket": rt.settings.results_bucket, "key": key, "etag": etag, "size_bytes": size}
    return md, result


async def handle(rt, contract, record: dict) -> None:
    env_in, payload = record["envelope"], record["payload"]
    base = {"run_id": payload["run_id"], "model_id": payload["model_id"], "files": payload["files"]}
    # Same input + same processor version => same output event id (idempotent on redelivery).
    env = envelope(STAGE, env_in["correlation_id"], env_in["event_id"],
                   event_id=derived_id(STAGE, env_in["event_id"], PROCESSOR_VERSION), version=PROCESSOR_VERSION)
    try:
        md, result = await rt.run_blocking(_measure, rt, payload)
    except Exception as exc:  # noqa: BLE001 - any failure becomes a failed event, never a dead agent
        await rt.send(f"{STAGE}.failed", payload["run_id"], {**base, "error": error_info(exc)}, env)
        return
    await rt.send(f"{STAGE}.completed", payload["run_id"], {**base, "metadata": md.summary(), "result": result}, env)
