"""`meshstream worker`: run the pipeline's Faust agents (all stages, or --stages a,b)."""
from __future__ import annotations

from meshstream import arguments as a

EXAMPLES = """examples:
  meshstream worker                                          # every stage in one process
  meshstream worker --stages discovery,orchestrator          # the light agents only
  meshstream worker --stages thumbnails,print-analysis       # scale the heavy stages separately
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("worker", help="run the stream-processing agents", epilog=EXAMPLES)
    p.add_argument("--stages", type=a.stages, metavar="STAGE[,STAGE...]",
                   help="comma-separated subset of: " + ", ".join(a.worker_stages()) + " (default: all)")
    p.add_argument("--loglevel", default="info", choices=("debug", "info", "warning", "error"), help="log level")
    p.set_defaults(func=run)


def run(args) -> int:
    from streams.worker.main import run_worker

    run_worker(stages=args.stages, loglevel=args.loglevel)
    return 0
