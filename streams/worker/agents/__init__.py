"""Every Faust agent a full worker runs, by name, in start-up order: discovery first, one agent per
processing stage (streams.worker.stage_agent, derived from the manifest), the orchestrator last.

Each value is a `register(app, runtime)` function.
"""
from __future__ import annotations

from typing import Callable

from registry.manifest import Manifest
from streams.execution.catalog import processing_stages
from streams.worker.agents import discovery, orchestrator, similarity
from streams.worker.stage_agent import register_stage


def agent_registrars(manifest: Manifest) -> dict[str, Callable]:
    """Agent name -> register(app, runtime), for every agent a full worker runs."""
    special = {similarity.STAGE: similarity.register}  # stages whose answer comes from another agent
    return {"discovery": discovery.register,
            **{stage: special.get(stage) or register_stage(stage) for stage in processing_stages(manifest)},
            "orchestrator": orchestrator.register}
