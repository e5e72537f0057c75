"""`meshstream scan --bucket B --prefix P`: publish a scan request."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("scan", help="publish a scan event for a bucket/prefix")
    p.add_argument("--bucket", required=True)
    p.add_argument("--prefix", default="")
    p.add_argument("--workflow", help="workflow name from schemas/workflows.yaml (default: its `default`)")
    p.add_argument("--storage", default="default", help="storage connection name known to the workers")
    p.add_argument("--scan-id", help="re-using an id replays that scan onto the same runs")
    p.add_argument("--via-manifest", action="store_true",
                   help="list here, store the listing as a manifest object and publish its reference (large folders)")
    p.add_argument("--json", action="store_true", help="print {\"scan_id\": ...} as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from streams.client import Publisher, write_objects_manifest

    publisher = Publisher()
    manifest = (write_objects_manifest(publisher.settings, args.bucket, args.prefix, storage=args.storage)
                if args.via_manifest else None)
    scan_id = publisher.scan(args.bucket, args.prefix, args.workflow, args.storage, args.scan_id,
                             objects_manifest=manifest)
    if args.json:
        import json

        print(json.dumps({"scan_id": scan_id, "bucket": args.bucket, "prefix": args.prefix}))
    else:
        print(scan_id)
    return 0
