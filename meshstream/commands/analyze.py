"""`meshstream analyze FILE [--json] [--thumbnails DIR]`: every processor on one local file, no broker.

Runs loading, technical metadata, metamodel (bodies within the file), print analysis, the
slicing estimate for the default printer (layers, filament, time; not the per-layer list),
sellability and an Etsy draft listing; `--thumbnails DIR` also writes the standard views (and
`--turntable N` frames). Exit code 0 on success, 2 when the file cannot be processed (the typed
error code and message are printed, as JSON with --json).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path


def register(subparsers) -> None:
    p = subparsers.add_parser("analyze", help="analyze a local mesh file with every processor (no broker needed)")
    p.add_argument("file", help="mesh file: STL, OBJ, PLY, GLB/glTF or 3MF (format detected from content)")
    p.add_argument("--json", action="store_true", help="print one JSON document instead of a text summary")
    p.add_argument("--thumbnails", metavar="DIR", help="write PNG thumbnails (front/isometric/top at 256 and 512 px) to DIR")
    p.add_argument("--turntable", type=int, default=0, metavar="N", help="with --thumbnails: also write N turntable frames (256 px)")
    p.add_argument("--listing-type", choices=("download", "physical", "both"), default="download")
    p.add_argument("--max-triangles", type=int, default=None, help="triangle limit (default 5,000,000)")
    p.set_defaults(func=run)


def analyze_file(path: Path, *, thumbnails: Path | None = None, turntable: int = 0,
                 listing_type: str = "download", max_triangles: int | None = None, slicing: bool = False) -> dict:
    """Every processor on one file; returns a JSON-ready dict. Raises ProcessingError.

    `slicing` adds the slicing estimate (the CLI turns it on; off by default so callers that
    measure the workflow's processors, like bench/pipeline.py, keep measuring the same work)."""
    from processors.etsy import etsy_listing
    from processors.loading import Limits, load_mesh
    from processors.metadata import technical_metadata
    from processors.metamodel import detect_bodies
    from processors.model import PROCESSOR_VERSION
    from processors.print_analysis import analyze_print
    from processors.sellability import sellability
    from processors.slicing import slice_mesh
    from processors.thumbnails import standard_views, turntable as turntable_frames

    limits = Limits() if max_triangles is None else Limits(max_triangles=max_triangles)
    loaded = load_mesh(path.read_bytes(), path.name, limits)
    meta = technical_metadata(loaded)
    bodies = detect_bodies(loaded, path.name)
    prints = analyze_print(loaded, meta)
    parts = len(bodies.parts) if bodies and bodies.confidence >= 0.5 else 1
    sell = sellability(meta, prints, parts=parts, metamodel_confidence=bodies.confidence if bodies else None)
    listing = etsy_listing(path.stem, meta, prints, parts=parts, listing_type=listing_type)
    written: list[str] = []
    if thumbnails is not None:
        thumbnails.mkdir(parents=True, exist_ok=True)
        thumbs = standard_views(loaded) + (turntable_frames(loaded, turntable, 256) if turntable else [])
        for t in thumbs:
            out = thumbnails / f"{path.stem}_{t.name}"
            out.write_bytes(t.png)
            written.append(str(out))
    return {
        "file": str(path),
        "processor_version": PROCESSOR_VERSION,
        "metadata": meta.to_dict(),
        "mesh_summary": meta.summary(),
        "units": {"units": loaded.units, "source": loaded.units_source},
        "metamodel": bodies.to_dict() if bodies else None,
        "print_analysis": prints.to_dict(),
        "slicing": slice_mesh(loaded).summary() if slicing else None,
        "sellability": sell.to_dict(),
        "etsy_listing": listing.to_dict(),
        "thumbnails": written,
    }


def run(args) -> int:
    from processors.errors import ProcessingError

    path = Path(args.file)
    if not path.is_file():
        print(f"analyze: no such file: {path}", file=sys.stderr)
        return 2
    try:
        result = analyze_file(path, thumbnails=Path(args.thumbnails) if args.thumbnails else None,
                              turntable=args.turntable, listing_type=args.listing_type,
                              max_triangles=args.max_triangles, slicing=True)
    except ProcessingError as exc:
        if args.json:
            print(json.dumps({"file": str(path), "error": exc.to_dict()}, indent=2))
        else:
            print(f"{path}: {exc.code}: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(result, indent=2, sort_keys=False, default=str))
        return 0
    _print_text(result)
    return 0


def _print_text(r: dict) -> None:
    m, p, s, e = r["metadata"], r["print_analysis"], r["sellability"], r["etsy_listing"]
    vol = f"{m['volume']:.3f}" if m["volume"] is not None else "n/a (not watertight)"
    ex = " x ".join(f"{v:.2f}" for v in p["extents_mm"])
    print(f"{r['file']}: {m['format']}, {m['triangles']:,} triangles, {m['vertices']:,} vertices, units {m['units'] or 'unknown'}")
    print(f"  bbox {m['bbox_min']} .. {m['bbox_max']}  ({ex} mm)")
    print(f"  volume {vol}, area {m['surface_area']:.3f}, watertight {m['watertight']}, winding consistent {m['winding_consistent']}")
    print(f"  bodies {m['bodies']}, holes {m['holes']}, non-manifold edges {m['non_manifold_edges']}, "
          f"degenerate {m['degenerate_faces']}, duplicate {m['duplicate_faces']}")
    print(f"  sha256 {m['content_sha256']}")
    if r["metamodel"]:
        mm = r["metamodel"]
        print(f"  metamodel: {len(mm['parts'])} bodies, confidence {mm['confidence']:.2f} ({'; '.join(mm['reasons'])})")
    wall = f"{p['min_wall_thickness_mm']:.2f} mm" if p["min_wall_thickness_mm"] is not None else "n/a"
    print(f"  print: score {p['score']}/100, overhang {p['overhang_fraction']:.1%}, support ~{p['support_volume_mm3']:.0f} mm3, min wall {wall}")
    for reason in p["reasons"]:
        print(f"    {reason['delta']:+d} {reason['code']}: {reason['reason']}")
    fits = [f["printer"] for f in p["bed_fit"] if f["fits"]]
    print(f"  fits: {', '.join(fits) or 'none as placed'}")
    if r.get("slicing"):
        sl = r["slicing"]
        print(f"  slicing ({sl['printer']}, {sl['profile']['layer_height_mm']} mm layers, {sl['profile']['infill_density']:.0%} infill): "
              f"{sl['layer_count']} layers, {sl['filament_length_mm'] / 1000:.2f} m / {sl['filament_mass_g']:.1f} g filament, "
              f"~{sl['print_time_s'] / 60:.0f} min (uncalibrated estimate)")
    print(f"  sellability {s['score']:.1f}/100: " + ", ".join(f"{f['name']} {f['value']:.2f}x{f['weight']}" for f in s["factors"]))
    print(f"  etsy: {e['title']!r}, {len(e['tags'])} tags, price {e['price']['amount'] / e['price']['divisor']:.2f} {e['price']['currency_code']}")
    for t in r["thumbnails"]:
        print(f"  wrote {t}")
