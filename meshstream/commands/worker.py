"""`meshstream worker`: run the pipeline's Faust agents (all stages, or --stages a,b)."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("worker", help="run the stream-processing agents")
    p.add_argument("--stages", help="comma-separated subset (discovery,technical-metadata,orchestrator); default all")
    p.add_argument("--loglevel", default="info")
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
    stages = set(args.stages.split(",")) if args.stages else None
    run_worker(settings, stages=stages, loglevel=args.loglevel)
    return 0
