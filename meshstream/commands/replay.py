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
    d.add_argument("--dry-run", action="store_true", help="print the same summary, publish nothing")
    d.add_argument("--json", action="store_true", help="print the summary as JSON")
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
    t.add_argument("--include-replayed", action="store_true",
                   help="let events published by an earlier replay start runs of their own (default: skipped)")
    t.add_argument("--dry-run", action="store_true", help="print the same summary, publish nothing")
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
    r.add_argument("--dry-run", action="store_true", help="print the same summary, publish nothing")
    r.add_argument("--json", action="store_true", help="print the summary as JSON")
    r.set_defaults(func=run_reprocess)


def _print(summary, as_json: bool) -> int:
    """The same summary for every kind of replay: text for people, `--json` for scripts."""
    print(json.dumps(summary.as_dict(), indent=2) if as_json else summary.text())
    return 0


def run_dead_letters(args) -> int:
    from streams.client.replay import replay_dead_letters
    from streams.core.settings import Settings

    return _print(replay_dead_letters(Settings(), stage=args.stage, code=args.code, key=args.key,
                                      dry_run=args.dry_run), args.json)


def run_topic(args) -> int:
    from streams.client.replay import parse_position, progress_bar, replay_topic
    from streams.core.settings import Settings

    summary = replay_topic(Settings(), args.topic, start=parse_position(args.start), end=parse_position(args.end),
                           partition=args.partition, model_id=args.model, workflow=args.workflow,
                           dry_run=args.dry_run, include_replayed=args.include_replayed,
                           progress=None if args.json else progress_bar())
    return _print(summary, args.json)


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
    from processors.version import PROCESSOR_VERSION
    from streams.client.replay import parse_position, reprocess
    from streams.core.settings import Settings

    return _print(reprocess(Settings(), since=parse_position(args.since), workflow=args.workflow,
                            version=args.processor_version or PROCESSOR_VERSION, dry_run=args.dry_run,
                            force=args.force), args.json)
