"""Stage work: the model's shape fingerprint and the index cells it belongs in (ADR 0015).

The lookup itself is not here: the index is a changelog-backed table partitioned by cell, so the
worker's similarity agent sends the fingerprint to the cells (streams/worker/agents/similarity.py)
and the agent owning the model's own cell answers the step."""
from __future__ import annotations

from processors.fingerprint import FINGERPRINT_VERSION, fingerprint
from processors.similarity_index import cells_within_reach, own_cell
from registry.manifest import default_manifest
from streams.execution.context import StageContext

STAGE = "similarity"
DEFAULTS = default_manifest().stage(STAGE, "requested").payload_defaults()


def work(ctx: StageContext, payload: dict) -> dict:
    payload = {**DEFAULTS, **{k: v for k, v in payload.items() if v is not None}}
    assembly, _ = ctx.load_model(payload["files"], payload.get("skip_cache", False), payload.get("units"))
    fp = fingerprint(assembly)
    return {"fingerprint": fp.to_float32_list(), "fingerprint_version": FINGERPRINT_VERSION,
            "cell": own_cell(fp), "cells": cells_within_reach(fp),
            "threshold": float(payload["threshold"]), "max_matches": int(payload["max_matches"])}
