"""Build each stage's request payload from a workflow run's state.

One function per stage; the orchestrator looks them up by the stage names in workflows.yaml, so
adding a stage means adding its contracts, its agent and one builder here. Builders read what
earlier steps produced (their completed payloads are kept in the run state), e.g. every stage
after download reads the cached copies, not the source objects.
"""
from __future__ import annotations

from typing import Callable


def result_of(run: dict, stage: str) -> dict:
    """The completed payload a step left in the run state ({} if none)."""
    step = run["steps"].get(stage) or {}
    return step.get("result") or {}


def _files(run: dict) -> list[dict]:
    cached = result_of(run, "download").get("files")
    return [f["cached"] for f in cached] if cached else run["files"]


def _ids(run: dict) -> dict:
    return {"run_id": run["run_id"], "model_id": run["model_id"]}


def _analyses(run: dict) -> list[dict]:
    return [r for r in (result_of(run, "technical-metadata").get("result"), result_of(run, "print-analysis").get("result")) if r]


def _images(run: dict) -> list[dict]:
    images = result_of(run, "thumbnails").get("images") or []
    best = sorted(images, key=lambda i: (i["view"] != "isometric", i["view"].startswith("turntable"), -i["size"]))
    return [i["image"] for i in best]


def _part_count(run: dict) -> int:
    groups = result_of(run, "metamodel").get("groups") or []
    return max([len(g["parts"]) for g in groups] + [len(run["files"])])


BUILDERS: dict[str, Callable[[dict], dict]] = {
    "download": lambda run: {**_ids(run), "files": run["files"], "skip_cache": False, "max_bytes": None},
    "technical-metadata": lambda run: {**_ids(run), "files": _files(run), "enable_expensive_analysis": False,
                                       "skip_cache": False},
    "thumbnails": lambda run: {**_ids(run), "owner_id": run.get("owner_id"), "files": _files(run),
                               "preview_type": "standard", "sizes": [256, 512], "generate_360_views": True,
                               "turntable_frames": 8, "skip_cache": False},
    "metamodel": lambda run: {**_ids(run), "folder": run.get("folder", ""), "files": _files(run),
                              "split_bodies": True, "min_confidence": 0.5},
    "print-analysis": lambda run: {**_ids(run), "files": _files(run), "overhang_angle_deg": 45.0, "printers": [],
                                   "enable_expensive_analysis": False, "skip_cache": False},
    "sellability": lambda run: {**_ids(run), "name": run["name"], "files": _files(run),
                                "metadata": result_of(run, "technical-metadata").get("metadata"),
                                "printability_score": result_of(run, "print-analysis").get("printability_score"),
                                "needs_supports": result_of(run, "print-analysis").get("needs_supports"),
                                "thumbnail_count": len(_images(run)), "part_count": _part_count(run),
                                "analyses": _analyses(run)},
    "etsy-listing": lambda run: {**_ids(run), "name": run["name"], "files": _files(run),
                                 "metadata": result_of(run, "technical-metadata").get("metadata"),
                                 "printability_score": result_of(run, "print-analysis").get("printability_score"),
                                 "sellability_score": result_of(run, "sellability").get("score"),
                                 "images": _images(run)[:10], "analyses": _analyses(run)},
}


def build_request(stage: str, run: dict) -> dict:
    try:
        builder = BUILDERS[stage]
    except KeyError:
        raise KeyError(f"no request builder for stage {stage!r}") from None
    return builder(run)
