"""Runtime settings for workers and CLI, from MESHSTREAM_* environment variables.

The names are the ones `meshstream stack env` prints and docker-compose.yml sets, so a worker
finds the local stack, a test's private stack or a production cluster the same way.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field


@dataclass(frozen=True)
class StorageConnection:
    """An S3 endpoint and its credentials, known to workers by name; events carry only the name."""

    name: str
    endpoint: str
    access_key: str
    secret_key: str
    secure: bool = False


class UnknownStorageError(LookupError):
    """An event names a storage connection this worker is not configured for."""

    code = "unknown_storage"
    retryable = False


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = field(default_factory=lambda: _env("MESHSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:9092"))
    registry_url: str = field(default_factory=lambda: _env("MESHSTREAM_SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7"))
    registry_user: str | None = field(default_factory=lambda: os.environ.get("MESHSTREAM_SCHEMA_REGISTRY_USER"))
    registry_password: str | None = field(default_factory=lambda: os.environ.get("MESHSTREAM_SCHEMA_REGISTRY_PASSWORD"))
    s3_endpoint: str = field(default_factory=lambda: _env("MESHSTREAM_S3_ENDPOINT", "127.0.0.1:8333"))
    s3_access_key: str = field(default_factory=lambda: _env("MESHSTREAM_S3_ACCESS_KEY", "meshstream"))
    s3_secret_key: str = field(default_factory=lambda: _env("MESHSTREAM_S3_SECRET_KEY", "meshstream-secret"))
    s3_secure: bool = field(default_factory=lambda: _env("MESHSTREAM_S3_SECURE", "false").lower() == "true")
    results_bucket: str = field(default_factory=lambda: _env("MESHSTREAM_RESULTS_BUCKET", "meshstream-results"))
    cache_bucket: str = field(default_factory=lambda: _env("MESHSTREAM_CACHE_BUCKET", "meshstream-cache"))
    app_id: str = field(default_factory=lambda: _env("MESHSTREAM_APP_ID", "meshstream"))
    web_port: int = field(default_factory=lambda: int(_env("MESHSTREAM_WEB_PORT", "6066")))
    max_object_bytes: int = field(default_factory=lambda: int(_env("MESHSTREAM_MAX_OBJECT_BYTES", str(256 * 1024 * 1024))))
    timeout_check_seconds: float = field(default_factory=lambda: float(_env("MESHSTREAM_TIMEOUT_CHECK_SECONDS", "5")))
    # caps every step's timeout_seconds from workflows.yaml (an operator's knob; tests use it)
    step_timeout_cap: float | None = field(default_factory=lambda: float(os.environ["MESHSTREAM_STEP_TIMEOUT_CAP"])
                                           if os.environ.get("MESHSTREAM_STEP_TIMEOUT_CAP") else None)
    session_timeout: float = field(default_factory=lambda: float(_env("MESHSTREAM_SESSION_TIMEOUT", "10")))

    def registry_config(self) -> dict[str, str]:
        """Config for confluent_kafka.schema_registry.SchemaRegistryClient."""
        conf = {"url": self.registry_url}
        if self.registry_user:
            conf["basic.auth.user.info"] = f"{self.registry_user}:{self.registry_password or ''}"
        return conf

    def storage(self, name: str) -> StorageConnection:
        """Resolve a storage connection name from an event. `default` is MESHSTREAM_S3_*;
        others come from MESHSTREAM_STORAGE_<NAME>_{ENDPOINT,ACCESS_KEY,SECRET_KEY,SECURE}."""
        if name == "default":
            return StorageConnection(name, self.s3_endpoint, self.s3_access_key, self.s3_secret_key, self.s3_secure)
        prefix = f"MESHSTREAM_STORAGE_{name.upper().replace('-', '_')}_"
        endpoint = os.environ.get(prefix + "ENDPOINT")
        if not endpoint:
            raise UnknownStorageError(f"unknown storage connection {name!r}: set {prefix}ENDPOINT (and keys) on the workers")
        return StorageConnection(name, endpoint, os.environ.get(prefix + "ACCESS_KEY", ""),
                                 os.environ.get(prefix + "SECRET_KEY", ""),
                                 os.environ.get(prefix + "SECURE", "false").lower() == "true")
