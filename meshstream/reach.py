"""Before a command talks to the stack, check that it can reach what it needs, and say so plainly.

Why a pre-flight check: librdkafka retries an unreachable broker forever while printing
connection noise, and the registry client dies with a traceback; a new user needs one line
naming what is down, where, and how to start it.
"""
from __future__ import annotations

import socket
from urllib.parse import urlsplit

FIX = "start the local stack with `meshstream stack up` and load its addresses with `eval \"$(meshstream stack env)\"`"
WHAT = {"broker": ("Kafka broker", "MESHSTREAM_KAFKA_BOOTSTRAP"),
        "registry": ("schema registry", "MESHSTREAM_SCHEMA_REGISTRY_URL"),
        "s3": ("S3 storage", "MESHSTREAM_S3_ENDPOINT"),
        "api": ("meshstream worker API", "MESHSTREAM_API_URL")}
API_FIX = "start a worker with `meshstream worker` (its API listens on MESHSTREAM_WEB_PORT, default 6066)"


class Unreachable(RuntimeError):
    """A server a command needs does not answer; the message is the one line the user sees."""

    def __init__(self, component: str, address: str):
        name, var = WHAT[component]
        super().__init__(f"cannot reach the {name} at {address} ({var}): {API_FIX if component == 'api' else FIX}")
        self.component, self.address = component, address


def _tcp(host: str, port: int, timeout: float) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _hostport(text: str, default_port: int) -> tuple[str, int]:
    text = text.split("://", 1)[-1]
    host, _, port = text.rpartition(":")
    return (host or text).strip("[]"), int(port) if port.isdigit() else default_port


def check(settings, needs, registry_url: str | None = None, timeout: float = 3.0) -> None:
    """Raise Unreachable for the first needed component that does not answer."""
    for component in needs:
        if component == "broker":
            addrs = [a.strip() for a in settings.kafka_bootstrap.split(",") if a.strip()]
            if not any(_tcp(*_hostport(a, 9092), timeout) for a in addrs):
                raise Unreachable("broker", settings.kafka_bootstrap)
        elif component == "registry":
            url = registry_url or settings.registry_url
            parts = urlsplit(url)
            if not _tcp(parts.hostname or "127.0.0.1", parts.port or (443 if parts.scheme == "https" else 80), timeout):
                raise Unreachable("registry", url)
        elif component == "api":
            parts = urlsplit(settings.api_url)
            if not _tcp(parts.hostname or "127.0.0.1", parts.port or 80, timeout):
                raise Unreachable("api", settings.api_url)
        elif component == "s3":
            if not _tcp(*_hostport(settings.s3_endpoint, 443 if settings.s3_secure else 80), timeout):
                raise Unreachable("s3", settings.s3_endpoint)
