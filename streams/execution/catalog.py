"""The stage catalogue: which stages exist and which module holds each one's work, derived from
the manifest.

A processing stage is a name with active `requested`, `completed` and `failed` contracts in
schemas/contracts.yaml; its work is `work(ctx, payload)` in `streams.execution.stages.<stage with
_ for ->` and its request builder is `streams.orchestration.request_builders.BUILDERS[stage]`.
Nothing else lists the stages: adding one means adding its contracts, its work module and its
builder (the alignment test checks all three). The Faust agent that serves a stage is built by
`streams.worker.stage_agent`, one layer up: this layer (and the pool processes that import it)
knows nothing about Faust or Kafka.
"""
from __future__ import annotations

from registry.manifest import Manifest

KINDS = ("requested", "completed", "failed")
WORK_PACKAGE = "streams.execution.stages"


def processing_stages(manifest: Manifest) -> list[str]:
    """Stages with all three active contracts, in manifest order."""
    by_stage: dict[str, set[str]] = {}
    for c in manifest.active:
        by_stage.setdefault(c.stage, set()).add(c.event)
    return [stage for stage, events in by_stage.items() if set(KINDS) <= events]


def work_module(stage: str) -> str:
    """The module whose `work(ctx, payload)` computes `stage` (imported in the pool processes)."""
    return f"{WORK_PACKAGE}.{stage.replace('-', '_')}"
