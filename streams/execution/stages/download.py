"""Stage work: download/cache. Copies a model's files into the cache bucket once, keyed by
source and ETag, so later stages read a stable copy and a re-run does not download again."""
from __future__ import annotations

from processors.errors import ProcessingError
from processors.loading import LoadedMesh, load_mesh
from processors.storage import stat
from streams.execution.context import StageContext, parsed_key, sha256

STAGE = "download"
# the cache bucket is this stage's own reuse (a hit is one HEAD of the cached copy): the result
# documents of streams.execution.context.reuse_or_work would add a GET and a PUT to every first run
REUSE_RESULTS = False


def _cache_key(ref: dict) -> str:
    return f"{ref['storage']}/{ref['bucket']}/{ref.get('etag') or 'no-etag'}/{ref['key']}"


def work(ctx: StageContext, payload: dict) -> dict:
    bucket = ctx.settings.cache_bucket
    cache = ctx.storage("default")
    max_bytes = payload.get("max_bytes")
    files = []
    for ref in payload["files"]:
        key = _cache_key(ref)
        hit = None if payload.get("skip_cache") or not ref.get("etag") else stat(cache, bucket, key)
        if hit and "sha256" in hit["metadata"]:
            cached = {"storage": "default", "bucket": bucket, "key": key, "etag": hit["etag"], "size_bytes": hit["size"]}
            files.append({"source": ref, "cached": cached, "sha256": hit["metadata"]["sha256"],
                          "size_bytes": hit["size"], "cache_hit": True})
            continue
        data = ctx.read(ref, max_bytes)
        digest = sha256(data)
        # the copy's round trip overlaps the parse; the parsed form is stored once the copy's
        # ETag, which names it, is known
        copied = ctx.store_bytes_soon(bucket, key, data, "application/octet-stream", {"sha256": digest})
        loaded = parse(ctx, key, data)
        cached = copied()
        store_parsed(ctx, cached, loaded)
        files.append({"source": ref, "cached": cached, "sha256": digest, "size_bytes": len(data), "cache_hit": False})
    return {"files": files}


def parse(ctx: StageContext, name: str, data: bytes) -> LoadedMesh | None:
    """The download is the first stage to read a model: it parses each new file for every later
    stage (processors/meshcache.py). A file that does not parse is left to the stages that
    measure it, which report the error as before (None here)."""
    try:
        return load_mesh(data, name, ctx.limits)
    except ProcessingError:
        return None


def store_parsed(ctx: StageContext, cached: dict, loaded: LoadedMesh | None) -> None:
    """Store a new file's parsed form, named by its cached copy's content, for the stages after.

    Called on a cache miss only, so the parsed form is stored without asking whether it exists: a
    file new to the cache has none, save a copy of the same bytes under another name (the parsed
    key is the content's), which is parsed and stored again, identically. One HEAD per new file
    saved (every S3 request costs the S3 server CPU beside the geometry)."""
    key = parsed_key(cached)
    if key is not None and loaded is not None:
        ctx.store_parsed(key, loaded)
