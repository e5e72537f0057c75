"""`meshstream subscribe`: print terminal (or any) events as they arrive, one JSON line each."""
from __future__ import annotations

import json


def register(subparsers) -> None:
    p = subparsers.add_parser("subscribe", help="print completion events as they arrive")
    p.add_argument("--contract", action="append", help="contract name(s); default the terminal events")
    p.add_argument("--from-beginning", action="store_true")
    p.add_argument("--group", help="consumer group id (default: a fresh one)")
    p.add_argument("--timeout", type=float, help="stop after this many seconds")
    p.add_argument("--idle-timeout", type=float, help="stop after this many seconds without an event")
    p.set_defaults(func=run)


def run(args) -> int:
    from streams.client import TERMINAL, Subscriber

    sub = Subscriber(tuple(args.contract or TERMINAL), group_id=args.group, from_beginning=args.from_beginning)
    try:
        for ev in sub.events(timeout=args.timeout, idle_timeout=args.idle_timeout):
            print(json.dumps({"contract": ev.contract, "topic": ev.topic, "partition": ev.partition,
                              "offset": ev.offset, **ev.record}, default=str), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        sub.close()
    return 0
