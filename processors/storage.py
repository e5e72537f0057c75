"""Object storage access through the `minio` SDK (any S3 server: MinIO, SeaweedFS, AWS).

The only module of processors/ that does I/O. It turns S3 failures into typed processing errors:
a missing object or bucket is deterministic (dead-letter, no retry), a connection problem is
transient (retry), an object over the size limit is refused before any byte is downloaded.
"""
from __future__ import annotations

import io
import json
import urllib3
from minio import Minio
from minio.error import S3Error

from processors.discovery import StoredObject
from processors.errors import ProcessingError


class ObjectMissingError(ProcessingError):
    code = "object_missing"


class ObjectTooLargeError(ProcessingError):
    code = "too_large"


class AccessDeniedError(ProcessingError):
    code = "access_denied"


class InvalidObjectNameError(ProcessingError):
    """A bucket or key no S3 server accepts (`..` segments, bad bucket names): deterministic, so
    never retried as if the storage were down."""

    code = "invalid_object_name"


class StorageUnavailableError(ProcessingError):
    code = "storage_unavailable"
    retryable = True


def connect(endpoint: str, access_key: str, secret_key: str, secure: bool = False, ca_location: str | None = None,
            pool_manager: type[urllib3.PoolManager] = urllib3.PoolManager) -> Minio:
    # bounded retries/timeouts: a dead S3 endpoint must surface as an error, not a hung agent;
    # `ca_location`: verify an S3 endpoint served over TLS with a private CA; `pool_manager`: a
    # urllib3 PoolManager subclass, for a caller that must know when a request waits on the network
    tls = {"cert_reqs": "CERT_REQUIRED", "ca_certs": ca_location} if secure and ca_location else {}
    http = pool_manager(maxsize=8, timeout=urllib3.Timeout(connect=5, read=60), **tls,
                               retries=urllib3.Retry(total=2, backoff_factor=0.2,
                                                     status_forcelist=(500, 502, 503, 504)))
    return Minio(endpoint, access_key=access_key, secret_key=secret_key, secure=secure, http_client=http)


# S3 error codes that refuse the request itself (the name, the URI, the arguments): deterministic.
INVALID_NAME_CODES = ("InvalidBucketName", "InvalidObjectName", "KeyTooLongError", "BadRequest", "InvalidArgument",
                      "InvalidRequest", "InvalidURI")


def _translate(exc: Exception, what: str) -> ProcessingError:
    if isinstance(exc, S3Error):
        if exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
            return ObjectMissingError(f"{what}: {exc.code}")
        if exc.code in ("AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"):
            return AccessDeniedError(f"{what}: access denied ({exc.code})")
        # InvalidRequest / InvalidURI: what S3 servers answer for keys they will never serve (e.g.
        # `..\..\windows\system32\x.stl`): the same answer on every retry, so not "unavailable"
        if exc.code in INVALID_NAME_CODES:
            return InvalidObjectNameError(f"{what}: refused by storage ({exc.code})")
        return StorageUnavailableError(f"{what}: S3 error {exc.code}: {exc.message}")
    if isinstance(exc, ValueError):  # the minio SDK validates bucket and object names before any request
        return InvalidObjectNameError(f"{what}: {exc}")
    return StorageUnavailableError(f"{what}: {type(exc).__name__}: {exc}")


def list_objects(client: Minio, bucket: str, prefix: str = "") -> list[StoredObject]:
    """All objects under bucket/prefix (recursive), sorted by key for deterministic grouping."""
    try:
        objs = [StoredObject(o.object_name, (o.etag or "").strip('"'), int(o.size or 0))
                for o in client.list_objects(bucket, prefix=prefix or None, recursive=True)
                if not o.is_dir]
    except Exception as exc:
        raise _translate(exc, f"list s3://{bucket}/{prefix}") from exc
    return sorted(objs, key=lambda o: o.key)


def get_bytes(client: Minio, bucket: str, key: str, max_bytes: int) -> bytes:
    """Download one object, refusing anything over `max_bytes` before reading its body.

    One request: the response's Content-Length is checked before the body is read (a refused
    object's connection is closed, not drained), and the read is bounded anyway in case a server
    sends no length."""
    where = f"s3://{bucket}/{key}"
    try:
        resp = client.get_object(bucket, key)
    except Exception as exc:
        raise _translate(exc, where) from exc
    keep_connection = False
    try:
        length = resp.headers.get("Content-Length")
        if length is not None and int(length) > max_bytes:
            raise ObjectTooLargeError(f"{where} is {int(length)} bytes; the limit is {max_bytes}")
        data = resp.read(max_bytes + 1)
        if len(data) > max_bytes:
            raise ObjectTooLargeError(f"{where} is over the limit of {max_bytes} bytes")
        keep_connection = True
        return data
    except ProcessingError:
        raise
    except Exception as exc:
        raise _translate(exc, where) from exc
    finally:
        resp.close()
        if keep_connection:
            resp.release_conn()


def put_bytes(client: Minio, bucket: str, key: str, data: bytes, content_type: str,
              metadata: dict[str, str] | None = None) -> str:
    """Store an object; returns its ETag. A missing bucket is created and the put tried again
    (one request in the usual case, not an existence check before every write)."""
    where = f"put s3://{bucket}/{key}"
    for attempt in (1, 2):
        try:
            res = client.put_object(bucket, key, io.BytesIO(data), len(data), content_type=content_type,
                                    metadata=metadata)
            return (res.etag or "").strip('"')
        except S3Error as exc:
            if exc.code != "NoSuchBucket" or attempt == 2:
                raise _translate(exc, where) from exc
        except Exception as exc:
            raise _translate(exc, where) from exc
        ensure_bucket(client, bucket)
    raise AssertionError("unreachable")


def ensure_bucket(client: Minio, bucket: str) -> None:
    """Create the bucket unless it exists (another worker creating it meanwhile is success)."""
    try:
        if not client.bucket_exists(bucket):
            client.make_bucket(bucket)
    except S3Error as exc:
        if exc.code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise _translate(exc, f"create bucket s3://{bucket}") from exc
    except Exception as exc:
        raise _translate(exc, f"create bucket s3://{bucket}") from exc


def stat(client: Minio, bucket: str, key: str) -> dict | None:
    """Size, ETag and user metadata of an object, or None when it does not exist."""
    try:
        st = client.stat_object(bucket, key)
    except S3Error as exc:
        if exc.code in ("NoSuchKey", "NoSuchBucket", "NoSuchObject"):
            return None
        raise _translate(exc, f"stat s3://{bucket}/{key}") from exc
    except Exception as exc:
        raise _translate(exc, f"stat s3://{bucket}/{key}") from exc
    meta = {k.lower().removeprefix("x-amz-meta-"): v for k, v in (st.metadata or {}).items()
            if k.lower().startswith("x-amz-meta-")}
    return {"size": st.size, "etag": (st.etag or "").strip('"'), "metadata": meta}


def put_json(client: Minio, bucket: str, key: str, document: dict) -> tuple[str, int]:
    """Store a JSON document, compact: an indent makes the json module encode in pure Python
    (4.5x the CPU of its C encoder for a metadata document, and 2.5x the bytes)."""
    data = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
    return put_bytes(client, bucket, key, data, "application/json"), len(data)
