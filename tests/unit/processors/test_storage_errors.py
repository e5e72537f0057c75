"""S3 failures become typed processing errors; the retry decision rides on the type.

Issue 22: `make stress` found the key `..\\..\\windows\\system32\\x.stl` answered with S3
`InvalidRequest`, classified `storage_unavailable`, retried 4 times and failed late. A refused
request is refused again on every retry: `invalid_object_name`, not retryable."""
from __future__ import annotations

import pytest
from minio.error import S3Error

from processors.storage import _translate


def s3_error(code: str) -> S3Error:
    return S3Error(None, code, f"{code} message", "/models/x", "req-1", "host-1")


@pytest.mark.parametrize("code", ["InvalidRequest", "InvalidURI", "InvalidObjectName", "InvalidBucketName",
                                  "KeyTooLongError", "InvalidArgument"])
def test_refused_requests_are_invalid_names_and_not_retried(code):
    err = _translate(s3_error(code), "s3://models/..\\..\\windows\\system32\\x.stl")
    assert (err.code, err.retryable) == ("invalid_object_name", False)


@pytest.mark.parametrize("code, expected", [("NoSuchKey", "object_missing"), ("AccessDenied", "access_denied"),
                                            ("SlowDown", "storage_unavailable"),
                                            ("InternalError", "storage_unavailable")])
def test_other_codes_keep_their_meaning(code, expected):
    err = _translate(s3_error(code), "s3://models/x.stl")
    assert err.code == expected and err.retryable == (expected == "storage_unavailable")
