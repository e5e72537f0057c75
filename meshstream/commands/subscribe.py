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

    _wait_for_topics(args.contract or TERMINAL, args.timeout)
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



def _wait_for_topics(contract_names, timeout: float | None) -> None:
    """Before the first worker has started there is nothing to subscribe to yet, which is not an
    error: wait, saying so once on stderr."""
    import sys

    from registry.manifest import default_manifest
    from streams.core.settings import Settings

    topics = {default_manifest().by_name(n).topic for n in contract_names}
    wait_for_topics(Settings().kafka_bootstrap, topics, timeout,
                    on_wait=lambda missing: print(f"waiting for topic(s) {', '.join(sorted(missing))} "
                                                  "(start a worker: `meshstream worker`)", file=sys.stderr, flush=True))


def wait_for_topics(bootstrap: str, topics: set[str], timeout: float | None, on_wait=None, poll: float = 1.0) -> None:
    """Return once every topic exists; call on_wait(missing) the first time one is missing."""
    import time

    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    deadline = None if timeout is None else time.monotonic() + timeout
    told = False
    while True:
        missing = set(topics) - set(admin.list_topics(timeout=10).topics)
        if not missing:
            return
        if not told and on_wait is not None:
            on_wait(missing)
            told = True
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError(f"topic(s) {', '.join(sorted(missing))} still missing after {timeout} s")
        time.sleep(poll)
