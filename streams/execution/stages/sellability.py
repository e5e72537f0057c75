"""Stage work: sellability score, from the stored technical-metadata and print-analysis documents."""
from __future__ import annotations

import json

from processors.documents import metadata_from_dict, print_analysis_from_dict
from processors.sellability import sellability
from streams.execution.context import StageContext, stage_of_result

STAGE = "sellability"


def analyses(ctx: StageContext, payload: dict):
    """(TechnicalMetadata, PrintAnalysis or None) from the documents the request references."""
    meta = prints = None
    for ref in payload.get("analyses", []):
        stage = stage_of_result(ref)
        if stage == "technical-metadata":
            meta = metadata_from_dict(json.loads(ctx.read(ref)))
        elif stage == "print-analysis":
            prints = print_analysis_from_dict(json.loads(ctx.read(ref)))
    if meta is None:
        raise LookupError("the request references no technical-metadata document")
    return meta, prints


def work(ctx: StageContext, payload: dict) -> dict:
    from processors.version import PROCESSOR_VERSION

    meta, prints = analyses(ctx, payload)
    if prints is None:
        raise LookupError("sellability needs a print-analysis document")
    score = sellability(meta, prints, parts=payload.get("part_count", 1))
    return {"score": score.score, "processor_version": PROCESSOR_VERSION,
            "factors": [{"name": f.name, "weight": f.weight, "value": f.value, "reason": f.reason} for f in score.factors]}
