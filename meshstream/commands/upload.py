"""`meshstream upload DIR --bucket B [--prefix P]`: put a folder of models into S3 for a scan.

Why a command: a first scan needs models in a bucket, and asking a newcomer for an S3 client
first is a detour. The folder layout is kept under the prefix, because discovery groups models
by folder (the parts of one model live in one folder; the files of a folder are its models), so
what the scan finds is what the user sees on disk. Only mesh files are uploaded (the extensions
discovery reads); others are counted as skipped. `--samples` uploads the bundled sample models
instead of a folder. Storage access goes through processors.storage (the minio SDK); the bucket
is created when missing.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from meshstream import arguments as a

EXAMPLES = """examples:
  meshstream upload ./models --bucket models --prefix incoming/
  meshstream upload --samples --bucket models --prefix first/ && meshstream scan --bucket models --prefix first/
"""


def register(subparsers) -> None:
    p = subparsers.add_parser("upload", help="upload a folder of models (or the bundled samples) to S3 for a scan",
                              description=__doc__.split("\n\n")[0].split(": ", 1)[1], epilog=EXAMPLES)
    p.add_argument("dir", nargs="?", type=Path, help="folder to upload (recursively; sub-folders kept)")
    p.add_argument("--samples", action="store_true", help="upload the bundled sample models instead of DIR")
    p.add_argument("--bucket", required=True, type=a.bucket, help="S3 bucket (created when missing)")
    p.add_argument("--prefix", default="", help="key prefix; a trailing / is added (default: the bucket root)")
    p.add_argument("--json", action="store_true", help="one JSON line per uploaded file, then a summary line")
    p.set_defaults(func=run, validate=lambda args: validate(p, args))


def validate(parser, args) -> None:
    """Checked before anything connects (meshstream.cli calls this after parsing)."""
    if args.samples == (args.dir is not None):
        parser.error("give a folder (DIR) or --samples, not both and not neither")
    if args.dir is not None and not args.dir.is_dir():
        parser.error(f"{args.dir} is not a folder (to upload one file, put it in a folder)")


def key_prefix(prefix: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/" if prefix else ""


def plan(directory: Path) -> tuple[list[tuple[Path, str]], list[Path]]:
    """(mesh files with their relative keys, skipped files), sorted by key; hidden files and
    folders (.git, .DS_Store) are neither uploaded nor reported."""
    from processors.naming import is_mesh

    files, skipped = [], []
    for path in sorted(directory.rglob("*")):
        rel = path.relative_to(directory)
        if not path.is_file() or any(part.startswith(".") for part in rel.parts):
            continue
        (files.append((path, rel.as_posix())) if is_mesh(rel.as_posix()) else skipped.append(path))
    return files, skipped


def run(args) -> int:
    from processors.discovery import StoredObject, group_models
    from processors.storage import connect, put_bytes
    from streams.core.settings import Settings

    prefix = key_prefix(args.prefix)
    if args.samples:
        from processors.samples import sample_models

        items = [(key, (lambda data=data: data), len(data)) for key, data in sample_models().items()]
        skipped: list[Path] = []
    else:
        planned, skipped = plan(args.dir)
        items = [(key, path.read_bytes, path.stat().st_size) for path, key in planned]
    if not items:
        print(f"meshstream upload: no mesh files in {args.dir} (STL, OBJ, PLY, GLB/glTF, 3MF)", file=sys.stderr)
        return 2
    conn = Settings().storage("default")
    client = connect(conn.endpoint, conn.access_key, conn.secret_key, conn.secure, conn.ca_location)
    total = sum(size for _, _, size in items)
    sent = 0
    for i, (key, read, size) in enumerate(items, 1):
        put_bytes(client, args.bucket, prefix + key, read(), "application/octet-stream")
        sent += size
        if args.json:
            print(json.dumps({"key": prefix + key, "bytes": size}), flush=True)
        else:
            print(f"[{i}/{len(items)}] {sent * 100 // max(total, 1):3d}%  s3://{args.bucket}/{prefix}{key} ({size:,} bytes)",
                  file=sys.stderr, flush=True)
    models = group_models([StoredObject(prefix + key, "-", size) for key, _, size in items])
    summary = {"bucket": args.bucket, "prefix": prefix, "files": len(items), "bytes": total, "models": len(models),
               "skipped": [str(p) for p in skipped]}
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"uploaded {len(items)} files ({total:,} bytes, {len(models)} models) to s3://{args.bucket}/{prefix}"
              + (f"; skipped {len(skipped)} non-mesh files" if skipped else ""))
        print(f"next: meshstream scan --bucket {args.bucket}" + (f" --prefix {prefix}" if prefix else ""))
    return 0
