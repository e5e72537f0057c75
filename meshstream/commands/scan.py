"""`meshstream scan --bucket B --prefix P`: publish a scan request."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("scan", help="publish a scan event for a bucket/prefix")
    p.add_argument("--bucket", required=True)
    p.add_argument("--prefix", default="")
    p.add_argument("--workflow", help="workflow name from schemas/workflows.yaml (default: its `default`)")
    p.add_argument("--storage", default="default", help="storage connection name known to the workers")
    p.add_argument("--scan-id", help="re-using an id replays that scan onto the same runs")
    p.set_defaults(func=run)


def run(args) -> int:
    from streams.client import Publisher

    scan_id = Publisher().scan(args.bucket, args.prefix, args.workflow, args.storage, args.scan_id)
    print(scan_id)
    return 0
