"""Stage work: technical metadata of a model (all its files measured as one assembly)."""
from __future__ import annotations

from processors.model import measure_parts
from streams.execution.context import StageContext

STAGE = "technical-metadata"


def work(ctx: StageContext, payload: dict) -> dict:
    md = measure_parts(ctx.load_files(payload["files"], payload.get("skip_cache", False)), ctx.limits)
    result = ctx.store_result(payload["model_id"], "metadata.json", {"model_id": payload["model_id"], **md.as_dict()})
    return {"files": payload["files"], "metadata": md.summary(), "result": result}
