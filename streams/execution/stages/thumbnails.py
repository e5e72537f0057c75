"""Stage work: thumbnails (standard views, and a 360-degree turntable when asked)."""
from __future__ import annotations

from processors.thumbnails import standard_views, turntable
from streams.execution.context import StageContext

STAGE = "thumbnails"
VIEWS_BY_PREVIEW = {"hero": ("isometric",), "standard": ("front", "isometric", "top")}


def work(ctx: StageContext, payload: dict) -> dict:
    assembly, _ = ctx.load_model(payload["files"], payload.get("skip_cache", False))
    sizes = tuple(payload.get("sizes") or (256, 512))
    shots = standard_views(assembly, views=VIEWS_BY_PREVIEW[payload.get("preview_type") or "standard"], sizes=sizes)
    if payload.get("generate_360_views", True):
        shots += turntable(assembly, frames=payload.get("turntable_frames") or 8, size=min(sizes))
    images = []
    frame = 0
    for shot in shots:
        view = shot.view
        if view == "turntable":  # the contract names each frame: turntable_00, turntable_01, ...
            view, frame = f"turntable_{frame:02d}", frame + 1
        ref = ctx.store_bytes(ctx.settings.results_bucket, f"{payload['model_id']}/thumbnails/{shot.name}",
                              shot.png, "image/png")
        images.append({"view": view, "size": shot.size, "azimuth_deg": float(shot.azimuth),
                       "elevation_deg": float(shot.elevation), "content_type": "image/png", "image": ref})
    return {"files": payload["files"], "images": images}
