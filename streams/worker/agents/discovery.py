"""Stage agent: discovery. Lists a scan's bucket/prefix and emits one event per model found."""
from __future__ import annotations

import asyncio
import time

from processors.discovery import group_models, read_manifest
from processors.storage import get_bytes, list_objects
from streams.core.envelope import derived_id, envelope
from streams.orchestration.workflow import runnable
from registry.workflows import Workflow
from streams.core import names
from streams.worker import metrics

STAGE = "discovery"
# providers whose listing API is S3's (the minio SDK); GCS through its S3-interoperable XML API
S3_COMPATIBLE = ("s3", "minio", "seaweedfs", "gcs")
# discoveries handed to the producer before their acks are awaited: one produce request carries
# many (a scan of 200 models was 200 sequential round trips), memory stays bounded for huge scans
SEND_CHUNK = 500


class UnsupportedProviderError(ValueError):
    """A scan names a storage provider discovery cannot list (deterministic: dead-lettered)."""

    code = "unsupported_provider"
    retryable = False


def register(app, rt) -> None:
    @app.agent(rt.topic(names.SCAN_REQUESTED), name=STAGE)
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
    flow = runnable(scan["workflow"])  # refuse unknown/planned workflows before doing any work
    if scan.get("provider", "s3") not in S3_COMPATIBLE:
        raise UnsupportedProviderError(f"storage provider {scan['provider']!r} is not supported; "
                                       f"S3-compatible providers are {', '.join(S3_COMPATIBLE)}")
    started = time.monotonic()
    models = largest_first(await rt.run_blocking(_discover, rt, scan))
    for start in range(0, len(models), SEND_CHUNK):
        acks = []
        for model in models[start:start + SEND_CHUNK]:
            run_id = derived_id(scan["scan_id"], model.model_id, scan["workflow"])
            payload = {
                "scan_id": scan["scan_id"], "run_id": run_id, "model_id": model.model_id,
                "name": model.name, "folder": model.folder, "workflow": scan["workflow"],
                "owner_id": scan.get("owner_id"), "options": scan.get("options"),
                "collection_id": collection_id(flow, scan, model.folder),
                "files": [{"storage": scan["storage"], "bucket": scan["bucket"], "key": f.key,
                           "etag": f.etag, "size_bytes": f.size} for f in model.files],
            }
            env = envelope(STAGE, correlation_id=run_id, causation_id=env_in["event_id"],
                           event_id=derived_id(STAGE, env_in["event_id"], run_id))
            acks.append(await rt.send_soon(names.DISCOVERED, run_id, payload, env))
        # the scan's record is acked only after every discovery was (streams/worker/runtime.py consume)
        await asyncio.gather(*acks)
    metrics.stage_done(STAGE, time.monotonic() - started)  # a scan listed and all its models published


def largest_first(models: list) -> list:
    """A scan's models, largest (total bytes) first; equal sizes keep the listing's order.

    Why: a batch ends when its last model does. Started last, the biggest model runs alone on one
    core while the others idle; started first, the small ones fill the other cores around it (the
    longest-processing-time-first rule for a makespan). Size is the proxy for the work."""
    return sorted(models, key=lambda m: -sum(f.size or 0 for f in m.files))


def collection_id(flow: Workflow, scan: dict, folder: str) -> str | None:
    """Folder-aware workflows: the collection a model belongs to is the first folder below the
    scan's prefix (a library's `dragons/` holding `dragons/red/`, `dragons/blue/`); its id is
    derived from the storage path, so every scan of the same library agrees on it."""
    if flow.context.get("collection") != "folder":
        return None
    rest = folder[len(scan["prefix"]):] if folder.startswith(scan["prefix"]) else folder
    top = rest.strip("/").split("/", 1)[0]
    return derived_id("collection", scan["storage"], scan["bucket"], scan["prefix"] + top)
