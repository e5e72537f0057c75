"""Stage agent: download/cache. Copies a model's files into the cache bucket once, keyed by
source and ETag, so later stages read a stable copy and a re-run does not download again."""
from __future__ import annotations

from streams.stage import StageContext, register_stage, sha256

STAGE = "download"


def _cache_key(ref: dict) -> str:
    return f"{ref['storage']}/{ref['bucket']}/{ref.get('etag') or 'no-etag'}/{ref['key']}"


def work(ctx: StageContext, payload: dict) -> dict:
    from processors.storage import stat

    bucket = ctx.settings.cache_bucket
    cache = ctx.rt.storage("default")
    files = []
    for ref in payload["files"]:
        key = _cache_key(ref)
        hit = None if payload.get("skip_cache") or not ref.get("etag") else stat(cache, bucket, key)
        if hit and "sha256" in hit["metadata"]:
            cached = {"storage": "default", "bucket": bucket, "key": key, "etag": hit["etag"], "size_bytes": hit["size"]}
            files.append({"source": ref, "cached": cached, "sha256": hit["metadata"]["sha256"],
                          "size_bytes": hit["size"], "cache_hit": True})
            continue
        data = ctx.read(ref)
        digest = sha256(data)
        cached = ctx.store_bytes(bucket, key, data, "application/octet-stream", {"sha256": digest})
        files.append({"source": ref, "cached": cached, "sha256": digest, "size_bytes": len(data), "cache_hit": False})
    return {"files": files}


register = register_stage(STAGE, work)
