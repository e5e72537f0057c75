"""Stage work: print analysis (overhangs, supports, wall thickness, bed fit, score)."""
from __future__ import annotations

from processors.print_analysis import analyze_print
from streams.execution.context import StageContext

STAGE = "print-analysis"
EXPENSIVE_SAMPLES = 8192  # wall-thickness samples with enable_expensive_analysis (default 1024)


def work(ctx: StageContext, payload: dict) -> dict:
    assembly, _ = ctx.load_model(payload["files"], payload.get("skip_cache", False))
    pa = analyze_print(assembly, max_samples=EXPENSIVE_SAMPLES if payload.get("enable_expensive_analysis") else 1024,
                       overhang_angle_deg=payload.get("overhang_angle_deg") or 45.0,
                       printers=tuple(payload.get("printers") or ()))
    result = ctx.store_result(payload["model_id"], "print-analysis.json", {"model_id": payload["model_id"], **pa.to_dict()})
    return {
        "files": payload["files"], "units_assumed": pa.units_assumed, "scale_to_mm": pa.scale_to_mm,
        "extents_mm": list(pa.extents_mm), "overhang_area_mm2": pa.overhang_area_mm2,
        "overhang_fraction": pa.overhang_fraction, "support_volume_mm3": pa.support_volume_mm3,
        "needs_supports": pa.needs_supports, "min_wall_thickness_mm": pa.min_wall_thickness_mm,
        "thin_wall_fraction": pa.thin_wall_fraction,
        "bed_fit": [{"printer": f.printer, "build_volume_mm": list(f.build_volume), "fits": f.fits,
                     "fits_reoriented": f.fits_reoriented} for f in pa.bed_fit],
        "issues": [{"code": i.code, "count": i.count, "repairable": i.repairable, "fix": i.fix} for i in pa.issues],
        "printability_score": pa.score,
        "reasons": [{"code": r.code, "delta": r.delta, "reason": r.reason} for r in pa.reasons],
        "result": result,
    }
