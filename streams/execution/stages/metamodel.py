"""Stage work: metamodel detection (multi-part grouping across files and bodies in a file)."""
from __future__ import annotations

from processors.metamodel import detect_metamodels
from streams.execution.context import StageContext

STAGE = "metamodel"


def work(ctx: StageContext, payload: dict) -> dict:
    refs = {ref["key"]: ref for ref in payload["files"]}
    file_groups, body_groups, ungrouped = detect_metamodels(ctx.load_files(payload["files"]),
                                                            payload.get("split_bodies", True))
    keep = [g for g in file_groups + body_groups if g.confidence >= payload.get("min_confidence", 0.5)]
    groups = [{
        "group_id": g.group_id, "name": g.name, "confidence": float(g.confidence), "reasons": list(g.reasons),
        "parts": [{"file": refs[p.key], "body_index": p.body_index, "role": role} for p, role in zip(g.parts, g.roles)],
    } for g in keep]
    result = ctx.store_result(payload["model_id"], "metamodel.json",
                              {"model_id": payload["model_id"], "groups": [g.to_dict() for g in file_groups + body_groups]})
    return {"folder": payload["folder"], "groups": groups,
            "ungrouped": [refs[p.key] for p in ungrouped], "result": result}
