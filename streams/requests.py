"""Build each stage's request payload from a workflow run's state.

One function per stage; the orchestrator looks them up by the stage names in workflows.yaml, so
adding a stage means adding its contracts, its agent and one builder here.
"""
from __future__ import annotations

from typing import Callable


def _technical_metadata(run: dict) -> dict:
    return {"run_id": run["run_id"], "model_id": run["model_id"], "files": run["files"],
            "enable_expensive_analysis": False, "skip_cache": False}


BUILDERS: dict[str, Callable[[dict], dict]] = {
    "technical-metadata": _technical_metadata,
}


def build_request(stage: str, run: dict) -> dict:
    try:
        return BUILDERS[stage](run)
    except KeyError:
        raise KeyError(f"no request builder for stage {stage!r}") from None
