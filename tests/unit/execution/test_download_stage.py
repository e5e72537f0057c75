"""The download stage's cache copy of a new file is put while the file is parsed, and the parsed
form is stored under the copy's ETag once the copy has landed."""
from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest

from processors.loading import Limits
from processors.samples import sample_models
from processors.storage import StorageUnavailableError
from streams.execution.context import parsed_key
from streams.execution.stages import download

CUBE = sample_models()["cube_10mm.stl"]


class _Context:
    """What the stage uses of a StageContext; the put of the copy records whether the parse ran
    during its round trip."""

    def __init__(self, fail_copy: bool = False):
        self.settings = SimpleNamespace(cache_bucket="cache")
        self.limits = Limits()
        self.fail_copy = fail_copy
        self.parsing = threading.Event()
        self.parsed_during_copy: bool | None = None
        self.parsed: dict[str, object] = {}

    def storage(self, name):
        return None

    def read(self, ref, max_bytes=None):
        return CUBE

    def store_bytes(self, bucket, key, data, content_type, metadata=None):
        self.parsed_during_copy = self.parsing.wait(timeout=2.0)  # a round trip that outlasts the start of the parse
        if self.fail_copy:
            raise StorageUnavailableError(f"put {key}: connection refused")
        return {"storage": "default", "bucket": bucket, "key": key, "etag": '"c0ffee"', "size_bytes": len(data)}

    def store_parsed(self, key, loaded):
        self.parsed[key] = loaded


@pytest.fixture
def watched_parse(monkeypatch):
    real = download.parse

    def parse(ctx, key, data):
        ctx.parsing.set()
        return real(ctx, key, data)

    monkeypatch.setattr(download, "parse", parse)


def _payload():
    return {"files": [{"storage": "default", "bucket": "models", "key": "a/cube.stl", "etag": "e1", "size_bytes": len(CUBE)}],
            "skip_cache": True}


def test_the_copy_is_put_while_the_file_is_parsed(watched_parse):
    ctx = _Context()
    result = download.work(ctx, _payload())
    assert ctx.parsed_during_copy is True
    cached = result["files"][0]["cached"]
    assert cached["etag"] == '"c0ffee"' and result["files"][0]["cache_hit"] is False
    assert list(ctx.parsed) == [parsed_key(cached)]  # named after the copy's ETag
    assert len(ctx.parsed[parsed_key(cached)].mesh.faces) == 12


def test_a_failed_copy_fails_the_step_and_stores_no_parsed_form(watched_parse):
    ctx = _Context(fail_copy=True)
    with pytest.raises(StorageUnavailableError):
        download.work(ctx, _payload())
    assert ctx.parsed == {}
