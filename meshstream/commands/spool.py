"""`meshstream spool status|deliver`: the publisher's local spool (records waiting for the broker)."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("spool", help="show or deliver records spooled while the broker was unreachable")
    p.add_argument("action", choices=("status", "deliver"))
    p.set_defaults(func=run)


def run(args) -> int:
    from streams.client import Publisher, spool_for
    from streams.core.settings import Settings

    settings = Settings()
    if args.action == "status":
        spool = spool_for(settings)
        print(f"{len(spool)} record(s) spooled in {spool.dir}")
        return 0
    publisher = Publisher(settings)
    before = publisher.pending()
    rejected = publisher.deliver_spooled()
    left = publisher.pending()
    print(f"delivered {before - left - len(rejected)}, still spooled {left}, rejected {len(rejected)}")
    for path, reason in rejected.items():
        print(f"rejected {path.name}: {reason}")
    return 0 if left == 0 and not rejected else 1
