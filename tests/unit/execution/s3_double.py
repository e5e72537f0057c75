"""An S3 client double for unit tests of stage work: objects in a dict, every request counted by
(method, key). Integration tests use the real S3 server; this one lets a unit test say exactly
which requests a stage makes."""
from __future__ import annotations

import hashlib
import io

from minio.error import S3Error


class Response:
    def __init__(self, data: bytes):
        self._body, self.headers = io.BytesIO(data), {"Content-Length": str(len(data))}

    def read(self, n: int) -> bytes:
        return self._body.read(n)

    def close(self):
        pass

    def release_conn(self):
        pass


class S3Double:
    """Objects in a dict; counts requests by (method, key)."""

    def __init__(self):
        self.objects: dict[tuple[str, str], bytes] = {}
        self.calls: list[tuple[str, str]] = []
        self.metadata: dict[tuple[str, str], dict] = {}

    def get_object(self, bucket, key):
        self.calls.append(("GET", key))
        if (bucket, key) not in self.objects:
            raise S3Error(None, "NoSuchKey", "no such key", key, "req", "host")
        return Response(self.objects[(bucket, key)])

    def stat_object(self, bucket, key):
        self.calls.append(("HEAD", key))
        if (bucket, key) not in self.objects:
            raise S3Error(None, "NoSuchKey", "no such key", key, "req", "host")
        body = self.objects[(bucket, key)]
        return type("Stat", (), {"size": len(body), "etag": hashlib.md5(body).hexdigest(),
                                 "metadata": self.metadata.get((bucket, key), {})})()

    def put_object(self, bucket, key, data, length, content_type=None, metadata=None):
        self.calls.append(("PUT", key))
        body = data.read()
        self.objects[(bucket, key)] = body
        self.metadata[(bucket, key)] = {f"x-amz-meta-{k}": v for k, v in (metadata or {}).items()}
        return type("Put", (), {"etag": hashlib.md5(body).hexdigest()})()
