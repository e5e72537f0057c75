"""`meshstream stack up|down|status|env`: run the local Kafka + registry + S3 stack on loopback."""
from __future__ import annotations

import sys

from stack.config import StackConfig
from stack.fetch import StackSetupError


def register(subparsers) -> None:
    p = subparsers.add_parser("stack", help="start/stop the local Kafka, schema registry and S3 server")
    p.add_argument("action", choices=("up", "down", "status", "env"))
    p.add_argument("--json", action="store_true", help="status/env as JSON")
    p.add_argument("--data-dir", help="where state and logs live (env MESHSTREAM_STACK_DIR, default .meshstream/stack)")
    p.add_argument("--brokers", type=int, choices=(1, 3),
                   help="Kafka brokers: 1, or 3 (replication factor 3, min.insync.replicas 2); env "
                        "MESHSTREAM_STACK_BROKERS; default: what the data dir was started with, else 1")
    p.set_defaults(func=run)


def run(args) -> int:
    from stack.manager import LocalStack

    from dataclasses import replace
    from pathlib import Path

    config = StackConfig()
    if args.data_dir:
        config = replace(config, data_dir=Path(args.data_dir).resolve())
    if args.brokers:
        config = replace(config, brokers=args.brokers)
    stack = LocalStack(config)
    if args.action == "up":
        try:
            started = stack.up()
        except (StackSetupError, TimeoutError, RuntimeError) as exc:
            print(f"stack up failed: {exc}", file=sys.stderr)
            return 1
        print(f"started: {', '.join(started) or 'nothing (already running)'}")
        _print_status(stack)
    elif args.action == "down":
        stopped = stack.down()
        print(f"stopped: {', '.join(stopped) or 'nothing (none of ours was running)'}")
    elif args.action == "status":
        if getattr(args, "json", False):
            import json

            rows = [{"name": s.name, "running": s.running, "pid": s.pid, "endpoint": s.endpoint, "log": str(s.log)}
                    for s in stack.status()]
            print(json.dumps(rows, indent=2))
            return 0 if all(r["running"] for r in rows) else 3
        return 0 if _print_status(stack) else 3
    elif getattr(args, "json", False):
        import json

        print(json.dumps(config.client_env(), indent=2))
    else:
        for key, value in config.client_env().items():
            print(f"export {key}={value}")
    return 0


def _print_status(stack) -> bool:
    all_up = True
    for s in stack.status():
        all_up &= s.running
        state = f"running (pid {s.pid})" if s.running else "stopped"
        print(f"{s.name:9} {state:22} {s.endpoint:48} log: {s.log}")
    if len(stack.brokers) > 1:
        c = stack.config
        print(f"kafka cluster: {len(stack.brokers)} brokers, replication factor {c.replication_factor}, "
              f"min.insync.replicas {c.min_insync_replicas}; bootstrap {c.kafka_bootstrap}")
    return all_up
