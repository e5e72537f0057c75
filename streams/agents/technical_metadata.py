"""Stage agent: technical metadata of a model (all its files measured as one assembly)."""
from __future__ import annotations

from processors.model import measure_model
from streams.stage import StageContext, register_stage

STAGE = "technical-metadata"


def work(ctx: StageContext, payload: dict) -> dict:
    md = measure_model(ctx.read_files(payload["files"]), ctx.limits)
    result = ctx.store_result(payload["model_id"], "metadata.json", {"model_id": payload["model_id"], **md.as_dict()})
    return {"files": payload["files"], "metadata": md.summary(), "result": result}


register = register_stage(STAGE, work)
