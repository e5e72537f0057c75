"""Workflows as text for people: a Mermaid graph per workflow and docs/workflows.md.

Generated from schemas/workflows.yaml (the one source), so the diagram cannot drift from what
the orchestrator runs; a unit test fails when docs/workflows.md is stale.
"""
from __future__ import annotations

from streams.orchestration.workflow import Workflow

DOC_PATH = "docs/workflows.md"


def _node(stage: str) -> str:
    return stage.replace("-", "_")


def mermaid(flow: Workflow) -> str:
    """`flowchart LR`: an edge per dependency; optional (non-blocking) steps drawn dashed."""
    lines = ["flowchart LR"]
    for s in flow.steps:
        label = s.stage + ("" if s.blocking else " (optional)")
        shape = f'{_node(s.stage)}["{label}"]' if s.blocking else f'{_node(s.stage)}("{label}")'
        lines.append(f"  {shape}")
    for s in flow.steps:
        for need in s.needs:
            lines.append(f"  {_node(need)} --> {_node(s.stage)}")
    return "\n".join(lines) + "\n"


def describe(flow: Workflow) -> dict:
    return {"name": flow.name, "status": flow.status, "description": flow.description,
            "steps": [{"stage": s.stage, "needs": list(s.needs), "blocking": s.blocking,
                       "timeout_seconds": s.timeout_seconds, "max_attempts": s.max_attempts} for s in flow.steps]}


def markdown(flows: dict[str, Workflow], default: str) -> str:
    out = ["# Workflows", "",
           "Generated from `schemas/workflows.yaml` by `meshstream workflows diagram --write`; do not edit.",
           f"The default workflow is `{default}`. Rounded boxes are optional steps: their failure is recorded",
           "and the run still completes.", ""]
    for name, flow in flows.items():
        out += [f"## {name} ({flow.status})", "", flow.description.strip(), "", "```mermaid", mermaid(flow).rstrip(),
                "```", "", "| stage | needs | blocking | timeout (s) | attempts |", "| --- | --- | --- | --- | --- |"]
        out += [f"| {s.stage} | {', '.join(s.needs) or '-'} | {'yes' if s.blocking else 'no'} | {s.timeout_seconds} "
                f"| {s.max_attempts} |" for s in flow.steps]
        out.append("")
    return "\n".join(out)
