"""`meshstream replay dead-letters|topic|reset-group` and `meshstream reprocess`."""
from __future__ import annotations

import json

from meshstream import arguments as a


def register(subparsers) -> None:
    p = subparsers.add_parser("replay", help="reprocess on purpose: dead letters, topic ranges, group rewinds")
    sub = p.add_subparsers(dest="replay_command", required=True)

    d = sub.add_parser("dead-letters", help="put dead-lettered records back on their topics (after a fix)")
    d.add_argument("--stage", help="only records dead-lettered by this stage")
    d.add_argument("--code", help="only this error code (e.g. object_missing)")
    d.add_argument("--key", help="only records with this original key (e.g. a scan id)")
    d.add_argument("--dry-run", action="store_true", help="list what would be replayed")
    d.add_argument("--json", action="store_true", help="one JSON object per record")
    d.set_defaults(func=run_dead_letters)

    t = sub.add_parser("topic", help="new runs for the events of a topic range, linked by causation_id")
    t.add_argument("topic", help="topic or contract name (scans, discoveries, terminal events)")
    t.add_argument("--from", dest="start", type=a.position,
                   help="first offset, or a time (ISO 8601, or epoch ms as 123ms)")
    t.add_argument("--to", dest="end", type=a.position,
                   help="end offset (exclusive) or time; default: the end when the replay starts")
    t.add_argument("--partition", type=int, help="only this partition")
    t.add_argument("--model", help="only events of this model id")
    t.add_argument("--workflow", help="run this workflow instead of the original one")
    t.add_argument("--dry-run", action="store_true", help="show what would start, publish nothing")
    t.add_argument("--json", action="store_true", help="print the summary as JSON")
    t.set_defaults(func=run_topic)

    g = sub.add_parser("reset-group", help="rewind a stopped consumer group to a time")
    g.add_argument("group")
    g.add_argument("--to-time", required=True, type=a.time_only, help="ISO 8601 time (or epoch ms as 123ms)")
    g.add_argument("--dry-run", action="store_true")
    g.add_argument("--json", action="store_true")
    g.set_defaults(func=run_reset_group)

    r = subparsers.add_parser("reprocess", help="new runs for models whose results another processor version made")
    r.add_argument("--since", type=a.time_only, help="only models whose latest run finished at or after this time")
    r.add_argument("--workflow", help="only runs of this workflow (and run it again)")
    r.add_argument("--processor-version", help="the version results must have (default: this build's)")
    r.add_argument("--force", action="store_true",
                   help="recompute every stage (default: a stage whose input and version have a result reuses it)")
    r.add_argument("--dry-run", action="store_true")
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=run_reprocess)


def run_dead_letters(args) -> int:
    from streams.client.replay import replay_dead_letters
    from streams.core.settings import Settings

    done = replay_dead_letters(Settings(), stage=args.stage, code=args.code, key=args.key, dry_run=args.dry_run)
    verb = "would replay" if args.dry_run else "replayed"
    if args.json:
        import json

        print(json.dumps([{"original_topic": d.original_topic, "original_offset": d.original_offset,
                           "partition": d.partition, "offset": d.offset, "stage": d.stage, "code": d.code,
                           "message": d.message, "replayed": not args.dry_run} for d in done], indent=2))
        return 0
    for d in done:
        if args.json:
            print(json.dumps({"original_topic": d.original_topic, "original_offset": d.original_offset,
                              "stage": d.stage, "code": d.code, "message": d.message, "replayed": not args.dry_run}))
        else:
            print(f"{verb} {d.original_topic}@{d.original_offset} (dead letter {d.partition}:{d.offset}, "
                  f"{d.stage}: {d.code}: {d.message[:100]})")
    if not args.json:
        print(f"{len(done)} record(s) {verb}")
    return 0


def run_topic(args) -> int:
    from streams.client.replay import parse_position, progress_bar, replay_topic
    from streams.core.settings import Settings

    report = replay_topic(Settings(), args.topic, start=parse_position(args.start), end=parse_position(args.end),
                          partition=args.partition, model_id=args.model, workflow=args.workflow,
                          dry_run=args.dry_run, progress=None if args.json else progress_bar())
    if args.json:
        print(json.dumps({"topic": report.topic, "matched": report.matched, "published": report.published,
                          "dry_run": report.dry_run,
                          "runs": [{"id": new, "caused_by": old} for new, old in report.runs]}))
    else:
        for new, old in report.runs:
            print(f"{'would start' if args.dry_run else 'started'} {new} (from event {old})")
        print(report.summary())
    return 0


def run_reset_group(args) -> int:
    from streams.client.replay import parse_position, reset_group
    from streams.core.settings import Settings

    kind, when = parse_position(args.to_time)
    if kind != "time":
        raise SystemExit("--to-time takes a time, not an offset")
    targets = reset_group(Settings(), args.group, when, dry_run=args.dry_run)
    if args.json:
        print(json.dumps([{"topic": tp.topic, "partition": tp.partition, "offset": tp.offset} for tp in targets]))
    else:
        for tp in targets:
            print(f"{tp.topic}[{tp.partition}] -> {tp.offset}")
        print(f"{len(targets)} partition(s) {'would be' if args.dry_run else ''} reset for group {args.group}")
    return 0


def run_reprocess(args) -> int:
    from processors.model import PROCESSOR_VERSION
    from streams.client.replay import parse_position, reprocess
    from streams.core.settings import Settings

    version = args.processor_version or PROCESSOR_VERSION
    done = reprocess(Settings(), since=parse_position(args.since), workflow=args.workflow, version=version,
                     dry_run=args.dry_run, force=args.force)
    if args.json:
        print(json.dumps([{"model_id": s.model_id, "previous_run": s.run_id, "versions": list(s.versions),
                           "new_run": new} for s, new in done]))
    else:
        for s, new in done:
            print(f"{'would reprocess' if args.dry_run else 'reprocessing'} {s.model_id} "
                  f"(made by {', '.join(s.versions)}; run {new})")
        print(f"{len(done)} model(s) with results not made by {version}")
    return 0
