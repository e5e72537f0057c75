"""The geometry one pipeline run of a workflow does, called directly: the bench's "pure" work.

bench/pipeline.py divides this by the wall time of the same models through Kafka, S3 and the
worker's pool. It must be exactly the work of the workflow being run: a baseline with stages the
workflow does not have (print analysis and a listing for the `standard` workflow, as
`meshstream analyze` computes) credits the pipeline with work it never did and inflates its
efficiency. So each workflow step's stage maps to the processors its module in
streams/execution/stages/ calls, with the options a request gets by default (its contract's
defaults), and a workflow with a stage not in `STAGE_WORK` is refused rather than guessed.

What a stage does besides geometry (S3 reads and writes, result documents, the parsed-mesh
cache) is the pipeline's overhead and is not here.
"""
from __future__ import annotations

from typing import Callable

from processors.loading import Limits, load_mesh
from processors.metamodel import detect_metamodels
from processors.model import assemble, measure_parts
from processors.print_analysis import analyze_print
from processors.sellability import sellability
from processors.thumbnails import prepare, standard_views, turntable
from processors.fingerprint import fingerprint
from processors.similarity_index import cells_within_reach, own_cell
from registry.workflows import default_workflows
from streams.execution.stages import thumbnails as thumbnails_stage

LIMITS = Limits()


def _download(run: dict, options: dict) -> None:
    """The download stage parses each new file once for every later stage (download.parse)."""
    run["parts"] = [(key, load_mesh(data, key, LIMITS)) for key, data in sorted(run["files"])]
    run["assembly"] = assemble(run["parts"], LIMITS)[0]


def _technical_metadata(run: dict, options: dict) -> None:
    run["meta"] = measure_parts(run["parts"], LIMITS).metadata


def _thumbnails(run: dict, options: dict) -> None:
    options = {**thumbnails_stage.DEFAULTS, **options}
    sizes = tuple(options["sizes"])
    prepared = prepare(run["assembly"])
    shots = standard_views(prepared, views=thumbnails_stage.VIEWS_BY_PREVIEW[options["preview_type"]], sizes=sizes)
    if options["generate_360_views"]:
        shots += turntable(prepared, frames=options["turntable_frames"], size=min(sizes))
    run["images"] = [shot.png for shot in shots]


def _metamodel(run: dict, options: dict) -> None:
    file_groups, body_groups, _ = detect_metamodels(run["parts"], options.get("split_bodies", True))
    run["groups"] = file_groups + body_groups


def _print_analysis(run: dict, options: dict) -> None:
    run["prints"] = analyze_print(run["assembly"], max_samples=1024)


def _sellability(run: dict, options: dict) -> None:
    run["score"] = sellability(run["meta"], run["prints"], parts=1)


def _similarity(run: dict, options: dict) -> None:
    fp = fingerprint(run["assembly"])
    run["cells"] = (own_cell(fp), cells_within_reach(fp))


STAGE_WORK: dict[str, Callable[[dict, dict], None]] = {
    "download": _download,
    "technical-metadata": _technical_metadata,
    "thumbnails": _thumbnails,
    "metamodel": _metamodel,
    "print-analysis": _print_analysis,
    "sellability": _sellability,
    "similarity": _similarity,
}


def stages_in_order(workflow: str) -> list[tuple[str, dict]]:
    """(stage, the options the workflow sets for it) of every step, each after the stages it
    needs (an order a run can take)."""
    flow = default_workflows().runnable(workflow)
    missing = [s for s in flow.stages if s not in STAGE_WORK]
    if missing:
        raise SystemExit(f"bench: no direct baseline for stage(s) {missing} of workflow {workflow!r}")
    return [(step.stage, dict(step.options)) for step in flow.in_order()]


def run_workflow_work(files: list[tuple[str, bytes]], stages: list[tuple[str, dict]]) -> dict:
    """Every stage's processors on one model's (key, bytes) files, in order; returns what they made."""
    run: dict = {"files": files}
    for stage, options in stages:
        STAGE_WORK[stage](run, options)
    return run
