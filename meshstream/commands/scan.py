"""`meshstream scan --bucket B --prefix P`: publish a scan request."""
from __future__ import annotations

from meshstream import arguments as a

EXAMPLES = """examples:
  meshstream scan --bucket models --prefix first/ --wait
  meshstream scan --bucket models --workflow complete --printer "Prusa MK4" --overhang-angle 50
  meshstream scan --bucket models --prefix vases/ --units mm      # glTF files modelled in millimetres
  meshstream scan --bucket models --listing-price 12.50 USD --listing-type physical --json
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("scan", help="publish a scan event for a bucket/prefix", epilog=EXAMPLES,
                              description="Publish a scan request: the workers list s3://BUCKET/PREFIX, group the "
                                          "files into models and run the workflow on each.")
    p.add_argument("--bucket", required=True, type=a.bucket, help="S3 bucket holding the models")
    p.add_argument("--prefix", default="", help="only keys under this prefix (default: the whole bucket)")
    p.add_argument("--workflow", type=a.workflow,
                   help=f"workflow to run, one of: {', '.join(a.workflow_names())} (default: `default` in "
                        "schemas/workflows.yaml)")
    p.add_argument("--storage", default="default", help="storage connection name known to the workers")
    p.add_argument("--scan-id", help="re-using an id replays that scan onto the same runs")
    p.add_argument("--via-manifest", action="store_true",
                   help="list here, store the listing as a manifest object and publish its reference (large folders)")
    p.add_argument("--owner-id", help="who the models belong to (carried to the terminal events)")
    o = p.add_argument_group("processing options (reach every stage that understands them)")
    o.add_argument("--skip-cache", action="store_true", help="download and compute again, ignoring caches")
    o.add_argument("--expensive", action="store_true", help="denser print analysis (enable_expensive_analysis)")
    o.add_argument("--units", choices=a.UNITS,
                   help="unit of the models' coordinates, overriding the format's (glTF: metres; STL: mm by convention; "
                        "OBJ/PLY: none), e.g. --units mm for glTF modelled in millimetres")
    o.add_argument("--overhang-angle", type=a.angle, metavar="DEG", help="overhang threshold, 0-90 (default 45)")
    o.add_argument("--printer", action="append", default=[], metavar="NAME", type=a.printer,
                   help="check bed fit against this printer only (repeatable; default: all known; an unknown "
                        "name is refused with the list)")
    o.add_argument("--listing-price", metavar=("AMOUNT", "CURRENCY"), nargs=2, action=a.Price,
                   help="Etsy price: an amount above zero with at most two decimals and an ISO 4217 code, "
                        "e.g. --listing-price 12.50 USD")
    o.add_argument("--who-made", choices=("i_did", "someone_else", "collective"), help="Etsy who_made")
    o.add_argument("--listing-type", choices=("physical", "download", "both"), help="Etsy listing type")
    o.add_argument("--taxonomy-id", type=a.positive_int, help="Etsy taxonomy id")
    p.add_argument("--json", action="store_true", help="print {\"scan_id\": ...} as JSON")
    p.add_argument("--wait", action="store_true",
                   help="wait until every discovered model finished (progress on stderr), then print a summary; "
                        "exit status 1 when the scan was refused or any model failed")
    p.add_argument("--wait-timeout", type=a.seconds, default=600.0, help="seconds --wait waits at most")
    p.set_defaults(func=run)


def options_from(args) -> dict | None:
    """ProcessingOptions from the command line (None when nothing was set)."""
    listing = {k: v for k, v in (("who_made", args.who_made), ("listing_type", args.listing_type),
                                 ("taxonomy_id", args.taxonomy_id)) if v is not None}
    if args.listing_price:
        amount, currency = args.listing_price  # checked by meshstream.arguments.Price
        listing["price"] = {"amount": int(amount * 100), "divisor": 100, "currency_code": currency.upper()}
    options = {k: v for k, v in (("skip_cache", args.skip_cache or None), ("enable_expensive_analysis", args.expensive or None),
                                 ("overhang_angle_deg", args.overhang_angle), ("printers", args.printer or None), ("units", args.units),
                                 ("listing", listing or None)) if v is not None}
    return options or None


def run(args) -> int:
    from streams.client import Publisher, write_objects_manifest

    publisher = Publisher()
    manifest = (write_objects_manifest(publisher.settings, args.bucket, args.prefix, storage=args.storage)
                if args.via_manifest else None)
    scan_id = publisher.scan(args.bucket, args.prefix, args.workflow, args.storage, args.scan_id,
                             owner_id=args.owner_id, objects_manifest=manifest, options=options_from(args))
    import json
    import sys

    if publisher.pending():
        print(f"broker unreachable: scan spooled in {publisher.spool.dir} ({publisher.pending()} record(s) waiting); "
              "it is delivered by the next publish or `meshstream spool deliver`", file=sys.stderr)
    if not args.wait:
        print(json.dumps({"scan_id": scan_id, "bucket": args.bucket, "prefix": args.prefix,
                          "spooled": publisher.pending()}) if args.json else scan_id)
        return 0
    from meshstream.progress import failed, table, wait

    if not args.json:
        print(scan_id, flush=True)
    scan = wait(publisher.settings.api_url, scan_id, args.wait_timeout)
    print(json.dumps(scan, indent=2) if args.json else table(scan))
    return 1 if failed(scan) else 0  # scripts and CI see models that failed
