"""Stage work: thumbnails (standard views, and a 360-degree turntable when asked)."""
from __future__ import annotations

from processors.thumbnails import BASE_COLOR, prepare, standard_views, turntable
from registry.manifest import default_manifest
from streams.execution.context import StageContext

STAGE = "thumbnails"
# what a request leaves out is the contract's default (schemas/thumbnails/requested.v1.avsc)
DEFAULTS = default_manifest().stage(STAGE, "requested").payload_defaults()
VIEWS_BY_PREVIEW = {"hero": ("isometric",), "standard": ("front", "isometric", "top")}


def rgb(hex_colour: str) -> tuple[int, int, int]:
    """(r, g, b) of a contract colour "#rrggbb" (the request contract checks the pattern)."""
    return tuple(int(hex_colour[i:i + 2], 16) for i in (1, 3, 5))


def work(ctx: StageContext, payload: dict) -> dict:
    payload = {**DEFAULTS, **{k: v for k, v in payload.items() if v is not None}}
    assembly, _ = ctx.load_model(payload["files"], payload["skip_cache"])
    sizes = tuple(payload["sizes"])
    style = {"color": rgb(payload["color"]) if payload["color"] else BASE_COLOR, "transparent": payload["transparent"]}
    prepared = prepare(assembly)  # normals and contact shadow once for the views and the turntable
    views = standard_views(prepared, views=VIEWS_BY_PREVIEW[payload["preview_type"]], sizes=sizes, **style)
    frames = (turntable(prepared, frames=payload["turntable_frames"], size=min(sizes), **style)
              if payload["generate_360_views"] else [])
    # the contract names each turntable frame: turntable_00, turntable_01, ...
    named = [(shot.view, shot) for shot in views] + [(f"turntable_{i:02d}", shot) for i, shot in enumerate(frames)]
    refs = ctx.store_many(ctx.settings.results_bucket,
                          [(f"{payload['model_id']}/thumbnails/{shot.name}", shot.png, "image/png") for _, shot in named])
    images = [{"view": view, "size": shot.size, "azimuth_deg": float(shot.azimuth), "elevation_deg": float(shot.elevation),
               "content_type": "image/png", "image": ref} for (view, shot), ref in zip(named, refs)]
    return {"files": payload["files"], "images": images}
