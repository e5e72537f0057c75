"""Stage work: slicing estimate (layers, filament, print time, bed fit per printer; ADR 0009).

The request's profile fields (layer height, infill, supports, printer) override the slicer
profile's defaults; the per-layer document and a layer preview go to results storage, the
summary into the completed event (and from there into the run's terminal event)."""
from __future__ import annotations

from processors.layer_preview import layer_preview_png
from processors.slicing import DEFAULT_PRINTER, SlicerProfile, slice_mesh
from registry.manifest import default_manifest
from streams.execution.context import StageContext

STAGE = "slicing"
DEFAULTS = default_manifest().stage(STAGE, "requested").payload_defaults()
# grams per cm3 by material name (the profile's default is PLA's)
DENSITY = {"PLA": 1.24, "PETG": 1.27, "ABS": 1.04, "ASA": 1.07, "TPU": 1.21}


def profile_for(payload: dict) -> SlicerProfile:
    """The slicer profile a request asks for."""
    base = SlicerProfile()
    return base.with_(layer_height_mm=float(payload["layer_height_mm"]),
                      infill_density=float(payload["infill_percent"]) / 100.0,
                      support_material=bool(payload["supports"]),
                      material_density_g_cm3=DENSITY.get(str(payload["material"]).upper(), base.material_density_g_cm3))


def work(ctx: StageContext, payload: dict) -> dict:
    payload = {**DEFAULTS, **{k: v for k, v in payload.items() if v is not None}}
    printer = payload.get("printer") or DEFAULT_PRINTER
    assembly, _ = ctx.load_model(payload["files"], payload.get("skip_cache", False), payload.get("units"))
    profile = profile_for(payload)
    estimate = slice_mesh(assembly, profile, printer=printer)
    document = ctx.store_result(payload["model_id"], "slicing.json", {"model_id": payload["model_id"], **estimate.to_dict()})
    png, _ = layer_preview_png(assembly, profile)
    preview = ctx.store_bytes(ctx.settings.results_bucket, f"{payload['model_id']}/slicing/layers.png", png, "image/png")
    return {
        "files": payload["files"], "printer": printer, "print_time_seconds": int(round(estimate.print_time_s)),
        "filament_grams": float(estimate.filament_mass_g), "filament_length_mm": float(estimate.filament_length_mm),
        "filament_volume_mm3": float(estimate.filament_volume_mm3),
        "support_volume_mm3": float(estimate.support_volume_mm3), "layers": int(estimate.layer_count),
        "height_mm": float(estimate.height_mm), "fits_printer": bool(estimate.fits_printer),
        "bed_fit": [{"printer": f.printer, "fits": bool(f.fits), "fits_reoriented": bool(f.fits_reoriented)}
                    for f in estimate.bed_fit],
        "layers_document": document, "preview": preview,
    }
