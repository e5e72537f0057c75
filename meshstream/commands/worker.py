"""`meshstream worker`: run the pipeline's Faust agents (all stages, or --stages a,b)."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("worker", help="run the stream-processing agents")
    p.add_argument("--stages", help="comma-separated subset (discovery,technical-metadata,orchestrator); default all")
    p.add_argument("--loglevel", default="info")
    p.set_defaults(func=run)


def run(args) -> int:
    from streams.worker.main import run_worker

    stages = set(args.stages.split(",")) if args.stages else None
    run_worker(stages=stages, loglevel=args.loglevel)
    return 0
