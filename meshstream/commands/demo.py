"""`meshstream demo`: stack up, worker, samples, one scan, one line per model, clean up."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("demo", help="run the whole pipeline once on the bundled samples")
    p.add_argument("--keep", action="store_true", help="leave the stack running afterwards")
    p.add_argument("--timeout", type=float, default=300.0)
    p.set_defaults(func=run)


def run(args) -> int:
    from meshstream.demo import run_demo

    return run_demo(keep=args.keep, timeout=args.timeout)
