"""`meshstream replay dead-letters`: re-publish dead-lettered records after a fix."""
from __future__ import annotations


def register(subparsers) -> None:
    p = subparsers.add_parser("replay", help="put dead-lettered records back on their topics")
    p.add_argument("what", choices=("dead-letters",))
    p.add_argument("--stage", help="only records dead-lettered by this stage")
    p.add_argument("--code", help="only this error code (e.g. object_missing)")
    p.add_argument("--key", help="only records with this original key (e.g. a scan id)")
    p.add_argument("--dry-run", action="store_true", help="list what would be replayed")
    p.add_argument("--json", action="store_true", help="print the records as JSON")
    p.set_defaults(func=run)


def run(args) -> int:
    from streams.settings import Settings
    from streams.replay import replay_dead_letters

    done = replay_dead_letters(Settings(), stage=args.stage, code=args.code, key=args.key, dry_run=args.dry_run)
    verb = "would replay" if args.dry_run else "replayed"
    if args.json:
        import json

        print(json.dumps([{"original_topic": d.original_topic, "original_offset": d.original_offset,
                           "partition": d.partition, "offset": d.offset, "stage": d.stage, "code": d.code,
                           "message": d.message, "replayed": not args.dry_run} for d in done], indent=2))
        return 0
    for d in done:
        print(f"{verb} {d.original_topic}@{d.original_offset} (dead letter {d.partition}:{d.offset}, "
              f"{d.stage}: {d.code}: {d.message[:100]})")
    print(f"{len(done)} record(s) {verb}")
    return 0
