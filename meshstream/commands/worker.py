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
    import sys
    from dataclasses import replace

    from meshstream.web_port import hold_free_port, parse_range
    from streams.core.settings import Settings
    from streams.worker.main import run_worker

    settings = Settings()
    if settings.web_port is None:  # several workers per host: each takes the next free port
        port, _holder = hold_free_port(settings.web_bind, parse_range(settings.web_ports))
        settings = replace(settings, web_port=port)
        how = f"first free port of MESHSTREAM_WEB_PORTS={settings.web_ports}"
    else:
        how = "MESHSTREAM_WEB_PORT"
    print(f"meshstream worker: web API, metrics and dashboard on http://{settings.web_bind}:{settings.web_port} ({how})",
          file=sys.stderr, flush=True)
    run_worker(settings, stages=args.stages, loglevel=args.loglevel)
    return 0
