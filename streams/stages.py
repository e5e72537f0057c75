"""The stage registry: which agent module serves which stage, derived from the manifest.

A processing stage is a name with active `requested`, `completed` and `failed` contracts in
schemas/contracts.yaml; its agent is `streams.agents.<stage with _ for ->` and its request
builder is `streams.requests.BUILDERS[stage]`. Nothing else lists the stages: adding one means
adding its contracts, its agent module and its builder (the alignment test checks all three).
"""
from __future__ import annotations

from registry.manifest import Manifest

KINDS = ("requested", "completed", "failed")
# agents that are not a requested/completed/failed stage: discovery fans a scan out into models,
# the orchestrator drives runs; discovery first, the orchestrator last (start-up order)
SPECIAL_AGENTS = {"discovery": "streams.agents.discovery", "orchestrator": "streams.agents.orchestrator"}


def processing_stages(manifest: Manifest) -> list[str]:
    """Stages with all three active contracts, in manifest order."""
    by_stage: dict[str, set[str]] = {}
    for c in manifest.active:
        by_stage.setdefault(c.stage, set()).add(c.event)
    return [stage for stage, events in by_stage.items() if set(KINDS) <= events]


def agent_module(stage: str) -> str:
    return f"streams.agents.{stage.replace('-', '_')}"


def agent_modules(manifest: Manifest) -> dict[str, str]:
    """Agent name -> module, for every agent a full worker runs."""
    return {"discovery": SPECIAL_AGENTS["discovery"],
            **{stage: agent_module(stage) for stage in processing_stages(manifest)},
            "orchestrator": SPECIAL_AGENTS["orchestrator"]}
