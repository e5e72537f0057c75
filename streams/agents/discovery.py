"""Stage agent: discovery. Lists a scan's bucket/prefix and emits one event per model found."""
from __future__ import annotations

from processors.discovery import group_models, read_manifest
from processors.storage import get_bytes, list_objects
from streams.envelope import derived_id, envelope
from streams.workflow import runnable

STAGE = "discovery"


def register(app, rt) -> None:
    @app.agent(rt.topic("discovery-scan.requested"), name=STAGE)
    async def discovery(stream):
        # a scan that cannot run (unknown workflow, bucket, storage) is dead-lettered with the reason
        await rt.consume(stream, STAGE, handle)


def _discover(rt, scan: dict):
    """Models from the scan's objects manifest when it has one (large folders: the listing was
    published by reference), otherwise from listing bucket/prefix."""
    ref = scan.get("objects_manifest")
    if ref:
        return read_manifest(get_bytes(rt.storage(ref["storage"]), ref["bucket"], ref["key"],
                                       rt.settings.max_object_bytes))
    client = rt.storage(scan["storage"])
    return group_models(list_objects(client, scan["bucket"], scan["prefix"]))


async def handle(rt, contract, record: dict) -> None:
    env_in, scan = record["envelope"], record["payload"]
    runnable(scan["workflow"])  # refuse unknown/planned workflows before doing any work
    models = await rt.run_blocking(_discover, rt, scan)
    for model in models:
        run_id = derived_id(scan["scan_id"], model.model_id, scan["workflow"])
        payload = {
            "scan_id": scan["scan_id"], "run_id": run_id, "model_id": model.model_id,
            "name": model.name, "folder": model.folder, "workflow": scan["workflow"],
            "owner_id": scan.get("owner_id"),
            "files": [{"storage": scan["storage"], "bucket": scan["bucket"], "key": f.key,
                       "etag": f.etag, "size_bytes": f.size} for f in model.files],
        }
        env = envelope(STAGE, correlation_id=run_id, causation_id=env_in["event_id"],
                       event_id=derived_id(STAGE, env_in["event_id"], run_id))
        await rt.send("discovery.discovered", run_id, payload, env)
