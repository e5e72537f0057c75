"""`meshstream analyze FILE|DIR [--json] [--thumbnails DIR] [--units U]`: every processor on local files, no broker.

Runs loading, technical metadata, metamodel (bodies within the file), print analysis, the
slicing estimate for the default printer (layers, filament, time; not the per-layer list),
sellability and an Etsy draft listing; `--thumbnails DIR` also writes the standard views (and
`--turntable N` frames: --turntable needs --thumbnails and is refused without it). A folder is
analysed file by file (its mesh files, recursively): one table row per file, or with --json one
JSON line per file. `--units` declares the coordinates' unit (a glTF modelled in millimetres).
Exit code 0 on success, 2 when a file cannot be processed (the typed error code and message are
printed, as JSON with --json).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from meshstream import arguments as a

EXAMPLES = """examples:
  meshstream analyze vase.glb --units mm
  meshstream analyze models/                      # a table, one row per file
  meshstream analyze models/ --json | jq .print_analysis.printability_score
  meshstream analyze cube.stl --thumbnails png/ --turntable 12
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("analyze", help="analyze local mesh files with every processor (no broker needed)",
                              epilog=EXAMPLES)
    p.add_argument("file", metavar="FILE|DIR",
                   help="mesh file (STL, OBJ, PLY, GLB/glTF or 3MF; format detected from content), or a folder of them")
    p.add_argument("--json", action="store_true",
                   help="a file: one JSON document; a folder: one JSON line per file")
    p.add_argument("--thumbnails", metavar="DIR", help="write PNG thumbnails (front/isometric/top at 256 and 512 px) to DIR")
    p.add_argument("--turntable", type=a.non_negative_int, default=0, metavar="N",
                   help="also write N turntable frames (256 px); needs --thumbnails")
    p.add_argument("--units", choices=a.UNITS,
                   help="unit of the file's coordinates, overriding the format's (glTF: metres; STL: mm by convention; "
                        "OBJ/PLY: none)")
    p.add_argument("--listing-type", choices=("download", "physical", "both"), default="download",
                   help="Etsy listing type")
    p.add_argument("--max-triangles", type=a.positive_int, default=None, help="triangle limit (default 5,000,000)")
    p.set_defaults(func=run, validate=lambda args: validate(p, args))


def validate(parser, args) -> None:
    if args.turntable and not args.thumbnails:
        parser.error("--turntable needs --thumbnails DIR (the frames are written there)")


def analyze_file(path: Path, *, thumbnails: Path | None = None, turntable: int = 0,
                 listing_type: str = "download", max_triangles: int | None = None, slicing: bool = False,
                 units: str | None = None) -> dict:
    """Every processor on one file; returns a JSON-ready dict. Raises ProcessingError.

    `slicing` adds the slicing estimate (the CLI turns it on; off by default so callers that
    measure the workflow's processors, like bench/pipeline.py, keep measuring the same work).
    `units` overrides the unit the format implies (processors.loading.with_units)."""
    from processors.etsy import etsy_listing
    from processors.loading import Limits, load_mesh
    from processors.metadata import technical_metadata
    from processors.metamodel import detect_bodies
    from processors.version import PROCESSOR_VERSION
    from processors.print_analysis import analyze_print
    from processors.sellability import sellability
    from processors.slicing import slice_mesh
    from processors.thumbnails import standard_views, turntable as turntable_frames

    limits = Limits() if max_triangles is None else Limits(max_triangles=max_triangles)
    loaded = load_mesh(path.read_bytes(), path.name, limits, units=units)
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
        # a model no printer can hold is not sliced: with wrong units (a millimetre glTF read in
        # metres) that is hundreds of thousands of layers, minutes of work for a meaningless estimate
        "slicing": slice_mesh(loaded).summary() if slicing and any(f.fits_reoriented for f in prints.bed_fit) else None,
        "sellability": sell.to_dict(),
        "etsy_listing": listing.to_dict(),
        "thumbnails": written,
    }


def _options(args) -> dict:
    return {"thumbnails": Path(args.thumbnails) if args.thumbnails else None, "turntable": args.turntable,
            "listing_type": args.listing_type, "max_triangles": args.max_triangles, "units": args.units,
            "slicing": True}


def mesh_files(directory: Path) -> list[Path]:
    """The mesh files under `directory` (by extension, recursively, hidden ones left out), sorted."""
    from processors.naming import is_mesh

    return [p for p in sorted(directory.rglob("*"))
            if p.is_file() and is_mesh(p.name) and not any(x.startswith(".") for x in p.relative_to(directory).parts)]


def run_directory(args, directory: Path) -> int:
    """One row (or JSON line) per file, as each finishes; exit 2 when any file failed."""
    from processors.errors import ProcessingError

    files = mesh_files(directory)
    if not files:
        print(f"analyze: no mesh files (STL, OBJ, PLY, GLB/glTF, 3MF) in {directory}", file=sys.stderr)
        return 2
    failed = 0
    if not args.json:
        print(TABLE_HEADER, flush=True)
    for path in files:
        try:
            result = analyze_file(path, **_options(args))
        except ProcessingError as exc:
            failed += 1
            print(json.dumps({"file": str(path), "error": exc.to_dict()}) if args.json
                  else _row_failed(path, directory, exc), flush=True)
            continue
        print(json.dumps(result, default=str) if args.json else _row(result, path, directory), flush=True)
    if not args.json:
        print(f"{len(files)} files, {len(files) - failed} analysed, {failed} failed")
    return 2 if failed else 0


TABLE_HEADER = (f"{'file':32} {'format':6} {'triangles':>10} {'size mm (x y z)':>24} {'units':8} {'watertight':10} "
                f"{'print':>5} {'sell':>5}  fits")


def _row(r: dict, path: Path, root: Path) -> str:
    m, p, s = r["metadata"], r["print_analysis"], r["sellability"]
    size = " x ".join(f"{v:.1f}" for v in p["extents_mm"])
    units = r["units"]["units"] or "mm?"  # none in the file: print analysis assumes millimetres
    fits = sum(1 for f in p["bed_fit"] if f["fits"] or f["fits_reoriented"])
    return (f"{str(path.relative_to(root))[:32]:32} {m['format']:6} {m['triangles']:>10,} {size:>24} {units:8} "
            f"{str(m['watertight']):10} {p['score']:>5} {s['score']:>5.1f}  {fits}/{len(p['bed_fit'])} printers")


def _row_failed(path: Path, root: Path, exc) -> str:
    return f"{str(path.relative_to(root))[:32]:32} failed: {exc.code}: {str(exc)[:100]}"


def run(args) -> int:
    from processors.errors import ProcessingError

    path = Path(args.file)
    if path.is_dir():
        return run_directory(args, path)
    if not path.is_file():
        print(f"analyze: no such file or folder: {path}", file=sys.stderr)
        return 2
    try:
        result = analyze_file(path, **_options(args))
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
    source = {"override": "given with --units", "spec": "the format's", "convention": "by convention",
              "file": "from the file"}.get(r["units"]["source"], "")
    print(f"{r['file']}: {m['format']}, {m['triangles']:,} triangles, {m['vertices']:,} vertices, "
          f"units {m['units'] or 'unknown'}{f' ({source})' if source and m['units'] else ''}")
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
