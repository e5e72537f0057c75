"""Bearer-token check for the API's writes (POST /scans, dead-letter replay).

Reads are open on the bind address (loopback by default); writes start work, so they need
`Authorization: Bearer $MESHSTREAM_API_TOKEN`. With no token configured, writes are refused:
a worker exposed by mistake must not accept work from anyone.
"""
from __future__ import annotations

import hmac


def write_refusal(configured: str | None, header: str | None) -> str | None:
    """None when the request may write, otherwise the reason for a 401."""
    if not configured:
        return "writes are disabled: set MESHSTREAM_API_TOKEN on the workers"
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return "missing bearer token (Authorization: Bearer <MESHSTREAM_API_TOKEN>)"
    if not hmac.compare_digest(token.strip().encode(), configured.encode()):
        return "wrong bearer token"
    return None
