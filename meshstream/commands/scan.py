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
    p.add_argument("--wait", action="store_true",
                   help="wait until every discovered model finished (progress on stderr), then print a summary")
    p.add_argument("--wait-timeout", type=float, default=600.0, help="seconds --wait waits at most")
    p.set_defaults(func=run)


def run(args) -> int:
    from streams.client import Publisher, write_objects_manifest

    publisher = Publisher()
    manifest = (write_objects_manifest(publisher.settings, args.bucket, args.prefix, storage=args.storage)
                if args.via_manifest else None)
    scan_id = publisher.scan(args.bucket, args.prefix, args.workflow, args.storage, args.scan_id,
                             objects_manifest=manifest)
    import json

    if not args.wait:
        print(json.dumps({"scan_id": scan_id, "bucket": args.bucket, "prefix": args.prefix}) if args.json else scan_id)
        return 0
    from meshstream.progress import table, wait

    if not args.json:
        print(scan_id, flush=True)
    scan = wait(publisher.settings.api_url, scan_id, args.wait_timeout)
    print(json.dumps(scan, indent=2) if args.json else table(scan))
    return 0
