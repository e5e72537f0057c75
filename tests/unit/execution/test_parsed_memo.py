"""A process remembers the parsed forms it stored or read (streams/execution/context.py `recall_parsed`):
a model's later stages on the same process read no parsed form back from S3, and decode the same
mesh as from the stored bytes."""
from __future__ import annotations

import hashlib

from cachetools import LRUCache
from processors import meshcache
from processors.samples import sample_models
from streams.execution import context as stage
from streams.core.settings import Settings
from streams.execution.context import StageContext, parsed_key
from tests.unit.execution.s3_double import S3Double as _S3


def _fresh_memo(monkeypatch) -> None:
    """This process's memo, empty (as in a newly started pool process)."""
    monkeypatch.setattr(stage, "_parsed_memo", LRUCache(maxsize=stage.PARSED_MEMO_BYTES, getsizeof=len))


def test_a_parsed_form_stored_here_is_not_read_back_and_decodes_the_same(monkeypatch):
    _fresh_memo(monkeypatch)
    s3 = _S3()
    data = sample_models()["cube_10mm.stl"]
    s3.objects[("models", "lib/cube.stl")] = data
    ref = {"storage": "default", "bucket": "models", "key": "lib/cube.stl", "etag": hashlib.md5(data).hexdigest(),
           "size_bytes": len(data)}
    settings = Settings()
    first = StageContext(settings, "technical-metadata", lambda name: s3).load(ref)   # parses, stores
    key = parsed_key(ref)
    assert ("PUT", key) in s3.calls
    s3.calls.clear()
    again = StageContext(settings, "thumbnails", lambda name: s3).load(ref)          # same process
    assert s3.calls == []  # neither the parsed form nor the source was read again
    stored = meshcache.decode(s3.objects[(settings.cache_bucket, key)])
    assert (again.mesh.vertices == stored.mesh.vertices).all() and (again.mesh.faces == stored.mesh.faces).all()
    assert (again.mesh.vertices == first.mesh.vertices).all() and again.sha256 == first.sha256
    # another process (an empty memo) reads the stored form once, then remembers it
    _fresh_memo(monkeypatch)
    StageContext(settings, "metamodel", lambda name: s3).load(ref)
    StageContext(settings, "print-analysis", lambda name: s3).load(ref)
    assert s3.calls == [("GET", key)]
