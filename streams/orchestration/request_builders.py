"""Build what the orchestrator sends from a run's state: each stage's request, and the terminal
event.

One builder per stage; the orchestrator looks them up by the stage names in workflows.yaml, so
adding a stage means adding its contracts, its agent and one builder here. Builders read what
earlier steps produced (their completed payloads are kept in the run state), e.g. every stage
after download reads the cached copies, not the source objects. On top of a builder's fields
come the workflow step's `options`, then the scan's own options: whichever of them the stage's
request contract has a field for (read from the manifest, not from a list kept here), so an
option a scan sets reaches every stage that understands it and no other.
"""
from __future__ import annotations

from functools import lru_cache
from typing import Any, Callable, Mapping

from registry.manifest import default_manifest
from streams.orchestration.workflow.state import COMPLETED, FAILED, RunState

# scan option -> request field, where the names differ (listing options are nested)
_LISTING_OPTIONS = ("who_made", "when_made", "taxonomy_id", "price", "listing_type")


def result_of(run: RunState, stage: str) -> dict:
    """The completed payload a step left in the run state ({} if none)."""
    step = run.steps.get(stage)
    return (step.result if step is not None else None) or {}


def _files(run: RunState) -> list[dict]:
    cached = result_of(run, "download").get("files")
    return [f["cached"] for f in cached] if cached else run.files


def _ids(run: RunState) -> dict:
    return {"run_id": run.run_id, "model_id": run.model_id}


def _analyses(run: RunState) -> list[dict]:
    return [r for r in (result_of(run, "technical-metadata").get("result"), result_of(run, "print-analysis").get("result")) if r]


def _images(run: RunState) -> list[dict]:
    images = result_of(run, "thumbnails").get("images") or []
    best = sorted(images, key=lambda i: (i["view"] != "isometric", i["view"].startswith("turntable"), -i["size"]))
    return [i["image"] for i in best]


def _part_count(run: RunState) -> int:
    groups = result_of(run, "metamodel").get("groups") or []
    return max([len(g["parts"]) for g in groups] + [len(run.files)])


BUILDERS: dict[str, Callable[[RunState], dict]] = {
    "download": lambda run: {**_ids(run), "files": run.files, "skip_cache": False, "max_bytes": None},
    "technical-metadata": lambda run: {**_ids(run), "files": _files(run), "enable_expensive_analysis": False,
                                       "skip_cache": False},
    # views, sizes, turntable: the request contract's defaults (request_defaults)
    "thumbnails": lambda run: {**_ids(run), "owner_id": run.owner_id, "files": _files(run)},
    "metamodel": lambda run: {**_ids(run), "folder": run.folder, "files": _files(run),
                              "split_bodies": True, "min_confidence": 0.5},
    "print-analysis": lambda run: {**_ids(run), "files": _files(run), "overhang_angle_deg": 45.0, "printers": [],
                                   "enable_expensive_analysis": False, "skip_cache": False},
    # profile fields (layer height, infill, supports, material): the contract's defaults
    "slicing": lambda run: {**_ids(run), "files": _files(run), "printer": (run.options.get("printers") or [""])[0]},
    # threshold and max_matches: the contract's defaults (a workflow's step options may set them)
    "similarity": lambda run: {**_ids(run), "files": _files(run), "owner_id": run.owner_id, "name": run.name},
    "sellability": lambda run: {**_ids(run), "name": run.name, "files": _files(run),
                                "metadata": result_of(run, "technical-metadata").get("metadata"),
                                "printability_score": result_of(run, "print-analysis").get("printability_score"),
                                "needs_supports": result_of(run, "print-analysis").get("needs_supports"),
                                "thumbnail_count": len(_images(run)), "part_count": _part_count(run),
                                "analyses": _analyses(run)},
    "etsy-listing": lambda run: {**_ids(run), "name": run.name, "files": _files(run),
                                 "metadata": result_of(run, "technical-metadata").get("metadata"),
                                 "printability_score": result_of(run, "print-analysis").get("printability_score"),
                                 "sellability_score": result_of(run, "sellability").get("score"),
                                 "images": _images(run)[:10], "analyses": _analyses(run)},
}


@lru_cache(maxsize=None)
def request_fields(stage: str) -> frozenset[str]:
    """The payload fields of a stage's request contract (what options may set)."""
    return frozenset(default_manifest().stage(stage, "requested").payload_field_names)


def scan_options(options: Mapping[str, Any] | None) -> dict:
    """A scan's ProcessingOptions flattened into request field names (null means: not set)."""
    options = dict(options or {})
    listing = options.pop("listing", None) or {}
    flat = {k: v for k, v in options.items() if v is not None and v != []}
    flat.update({k: listing[k] for k in _LISTING_OPTIONS if listing.get(k) is not None})
    return flat


def build_request(stage: str, run: RunState, step_options: Mapping[str, Any] | None = None) -> dict:
    try:
        builder = BUILDERS[stage]
    except KeyError:
        raise KeyError(f"no request builder for stage {stage!r}") from None
    known = request_fields(stage)
    overrides = {**dict(step_options or {}), **scan_options(run.options)}
    request = {**request_defaults(stage), **builder(run), **{k: v for k, v in overrides.items() if k in known}}
    if "input_is_new" in known:
        request["input_is_new"] = input_is_new(run, stage)
    return request


def input_is_new(run: RunState, stage: str) -> bool:
    """True when this run's download stored every file in the cache for the first time (each a
    cache miss) and the step's request is its first attempt: no stage can have a result for
    content the cache has never held, so the stage skips its result-reuse lookup, a GET that
    could only miss (streams.execution.context.reuse_or_work). A later attempt always looks: an
    earlier attempt may have finished and stored its result before its answer was lost."""
    files = result_of(run, "download").get("files") or []
    step = run.steps.get(stage)
    first_attempt = step is None or step.attempts <= 1
    return bool(files) and first_attempt and not any(f.get("cache_hit", True) for f in files)


@lru_cache(maxsize=None)
def request_defaults(stage: str) -> dict:
    """The schema defaults of a stage's request (the contract is the one place they are set)."""
    return default_manifest().stage(stage, "requested").payload_defaults()


def terminal_payload(run: RunState) -> dict:
    """The terminal event of a finished run (processing.completed or processing.failed)."""
    common = {"run_id": run.run_id, "model_id": run.model_id, "scan_id": run.scan_id, "name": run.name,
              "workflow": run.workflow, "files": run.files, "owner_id": run.owner_id,
              "collection_id": run.collection_id}
    if run.terminal == FAILED:
        return {**common, "failed_stage": run.failed_stage, "error": run.error,
                "stages": _stage_outcomes(run)}
    assert run.terminal == COMPLETED, run.terminal
    results = [s.result["result"] for s in run.steps.values() if s.result and isinstance(s.result.get("result"), dict)]
    results += [img["image"] for img in result_of(run, "thumbnails").get("images", [])]
    sliced = result_of(run, "slicing")
    results += [sliced[k] for k in ("layers_document", "preview") if sliced.get(k)]
    estimate = ({k: sliced[k] for k in ("printer", "print_time_seconds", "filament_grams", "filament_length_mm",
                                         "layers", "fits_printer")} if sliced else None)
    similar = result_of(run, "similarity")
    return {**common, "metadata": result_of(run, "technical-metadata").get("metadata"),
            "stages": _stage_outcomes(run), "results": results, "degraded": run.degraded,
            "print_estimate": estimate,
            "near_duplicates": similar.get("near_duplicates") if similar else None}


def _stage_outcomes(run: RunState) -> list[dict]:
    return [{"stage": name, "status": s.status, "processor_version": s.processor_version, "attempts": s.attempts}
            for name, s in run.steps.items()]
