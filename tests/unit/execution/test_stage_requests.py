"""The S3 requests a model's first run costs, stage by stage (every request costs the S3 server CPU
beside the geometry, issue 19): the download stores the cached copy and the parsed form without
asking first, the stages after it skip the reuse lookup when the orchestrator says the input is
new, and a request that does not say so still finds and reuses an earlier result."""
from __future__ import annotations

import hashlib
import importlib
import time

from cachetools import LRUCache

from processors.samples import sample_models
from registry.manifest import default_manifest
from streams.core.settings import Settings
from streams.execution import context as stage_context
from streams.execution.background_io import write_behind
from streams.execution.catalog import work_module
from streams.execution.context import PARSED_PREFIX, StageContext, parsed_key, reuse_key, run_work
from streams.execution.stages import download
from tests.unit.execution.s3_double import S3Double

SETTINGS = Settings()


def _request(stage: str, **fields) -> dict:
    return {**default_manifest().stage(stage, "requested").payload_defaults(), "run_id": "r1", "model_id": "m1", **fields}


def _run(s3: S3Double, stage: str, payload: dict) -> dict:
    done = run_work(StageContext(SETTINGS, stage, lambda name: s3), importlib.import_module(work_module(stage)), payload)
    assert write_behind.flush()  # the reuse record is written behind the answer
    return done


def _new_model(monkeypatch):
    monkeypatch.setattr(stage_context, "_parsed_memo", LRUCache(maxsize=stage_context.PARSED_MEMO_BYTES, getsizeof=len))
    s3 = S3Double()
    data = sample_models()["cube_10mm.stl"]
    s3.objects[("models", "lib/cube.stl")] = data
    source = {"storage": "default", "bucket": "models", "key": "lib/cube.stl", "etag": hashlib.md5(data).hexdigest(),
              "size_bytes": len(data)}
    return s3, source


def test_a_new_models_download_makes_four_requests_and_no_result_document(monkeypatch):
    s3, source = _new_model(monkeypatch)
    done = _run(s3, "download", _request("download", files=[source]))
    [file] = done["files"]
    cached = file["cached"]
    assert file["cache_hit"] is False
    assert s3.calls == [("HEAD", cached["key"]), ("GET", "lib/cube.stl"), ("PUT", cached["key"]),
                        ("PUT", parsed_key(cached))]
    s3.calls.clear()
    again = _run(s3, "download", _request("download", run_id="r2", files=[source]))
    assert s3.calls == [("HEAD", cached["key"])] and again["files"][0]["cache_hit"] is True


def test_a_new_files_cached_copy_is_on_its_way_while_the_file_is_parsed(monkeypatch):
    """Against a far object store every round trip a step waits for is wall: the copy's PUT
    overlaps the parse, and the parsed form, named by the copy's ETag, is stored after it."""
    s3, source = _new_model(monkeypatch)
    put, puts_done, puts_done_at_parse = s3.put_object, [], []

    def far_put(bucket, key, data, length, **kw):
        if not key.startswith(PARSED_PREFIX + "/"):
            time.sleep(0.3)  # the cached copy's round trip
        etag = put(bucket, key, data, length, **kw)
        puts_done.append(key)
        return etag

    s3.put_object = far_put
    load = download.load_mesh
    monkeypatch.setattr(download, "load_mesh", lambda *a: (puts_done_at_parse.append(list(puts_done)), load(*a))[1])
    [file] = _run(s3, "download", _request("download", files=[source]))["files"]
    assert puts_done_at_parse == [[]], "the file is parsed while its copy is on its way"
    assert puts_done == [file["cached"]["key"], parsed_key(file["cached"])]
    assert (SETTINGS.cache_bucket, parsed_key(file["cached"])) in s3.objects


def test_stages_after_a_new_download_skip_the_lookup_and_a_later_request_reuses_their_result(monkeypatch):
    s3, source = _new_model(monkeypatch)
    files = [f["cached"] for f in _run(s3, "download", _request("download", files=[source]))["files"]]
    for stage in ("technical-metadata", "thumbnails"):
        s3.calls.clear()
        first = _run(s3, stage, _request(stage, files=files, input_is_new=True))
        key = reuse_key(stage, _request(stage, files=files))
        assert ("GET", key) not in s3.calls and ("PUT", key) in s3.calls, s3.calls
        assert not [c for c in s3.calls if c[0] != "PUT"], f"{stage}: only writes ({s3.calls})"
        # a retry, or the same model scanned again: the request does not say new, the result is reused
        s3.calls.clear()
        again = _run(s3, stage, _request(stage, run_id="r2", files=files, input_is_new=False))
        assert s3.calls == [("GET", key)] and again == first
