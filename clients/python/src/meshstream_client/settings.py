"""Connection settings: explicit arguments, else the worker's MESHSTREAM_* environment variables.

The variable names are the ones the workers, `meshstream stack env` and docker-compose.yml use
(a unit test keeps them a subset of the worker's), so a service beside a worker is configured
the same way. Secrets can come from `<NAME>_FILE` (Docker/Kubernetes secrets) and never appear in
repr().
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

from meshstream_client.errors import ConfigurationError

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


def _env(name: str | None, default: str | None, cast=str, secret: bool = False):
    """A field read from environment variable `name` (None: a client-only knob, set by argument)."""

    def read(env: Mapping[str, str]):
        raw = env.get(name) if name else None
        if not raw and secret and env.get(name + "_FILE"):
            try:
                with open(env[name + "_FILE"], encoding="utf-8") as fh:
                    raw = fh.read().strip()
            except OSError as exc:
                raise ConfigurationError(f"{name}_FILE: {exc}") from exc
        raw = raw or default
        if raw is None:
            return None
        try:
            return cast(raw)
        except ValueError as exc:
            raise ConfigurationError(f"{name}={raw!r}: {exc}") from exc

    return field(default=None, repr=not secret, metadata={"read": read, "env": name, "secret": secret})


@dataclass(frozen=True)
class Settings:
    """Every field left None is read from its environment variable (or takes its default) when
    the Settings is built: `Settings(kafka_bootstrap="kafka:9092")` overrides that one value."""

    kafka_bootstrap: str = _env("MESHSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    kafka_security_protocol: str = _env("MESHSTREAM_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", str.upper)
    kafka_sasl_mechanism: str = _env("MESHSTREAM_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", str.upper)
    kafka_sasl_username: str | None = _env("MESHSTREAM_KAFKA_SASL_USERNAME", None)
    kafka_sasl_password: str | None = _env("MESHSTREAM_KAFKA_SASL_PASSWORD", None, secret=True)
    kafka_ssl_ca_location: str | None = _env("MESHSTREAM_KAFKA_SSL_CA_LOCATION", None)
    kafka_ssl_certificate_location: str | None = _env("MESHSTREAM_KAFKA_SSL_CERTIFICATE_LOCATION", None)
    kafka_ssl_key_location: str | None = _env("MESHSTREAM_KAFKA_SSL_KEY_LOCATION", None)
    kafka_ssl_key_password: str | None = _env("MESHSTREAM_KAFKA_SSL_KEY_PASSWORD", None, secret=True)
    registry_url: str = _env("MESHSTREAM_SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7")
    registry_user: str | None = _env("MESHSTREAM_SCHEMA_REGISTRY_USER", None)
    registry_password: str | None = _env("MESHSTREAM_SCHEMA_REGISTRY_PASSWORD", None, secret=True)
    registry_ca_location: str | None = _env("MESHSTREAM_SCHEMA_REGISTRY_CA_LOCATION", None)
    # how long a publish waits for the broker's acknowledgement before BrokerUnavailable
    publish_timeout: float = _env("MESHSTREAM_PUBLISH_TIMEOUT", "10", float)
    # how long one registry request may take (connect + answer) before RegistryUnavailable
    registry_timeout: float = _env(None, "5", float)
    # how long to wait for the broker's metadata before BrokerUnavailable
    connect_timeout: float = _env(None, "10", float)

    def __post_init__(self) -> None:
        self._fill(os.environ)
        self.check()

    def _fill(self, env: Mapping[str, str]) -> None:
        for f in fields(self):
            if getattr(self, f.name) is None:
                object.__setattr__(self, f.name, f.metadata["read"](env))

    @classmethod
    def from_env(cls, env: Mapping[str, str], **overrides: Any) -> "Settings":
        """Settings as a process whose environment is ours plus `env` would read them."""
        merged = {**os.environ, **env}
        values = {f.name: f.metadata["read"](merged) for f in fields(cls)}
        return cls(**{**values, **{k: v for k, v in overrides.items() if v is not None}})

    @classmethod
    def env_names(cls) -> frozenset[str]:
        """The MESHSTREAM_* variables read (secrets also as `<NAME>_FILE`)."""
        names = {f.metadata["env"] for f in fields(cls) if f.metadata["env"]}
        return frozenset(names | {f.metadata["env"] + "_FILE" for f in fields(cls) if f.metadata["secret"]})

    def replace(self, **changes: Any) -> "Settings":
        return replace(self, **changes)

    def check(self) -> None:
        """Refuse settings no client could connect with, before any connection is tried."""
        proto = self.kafka_security_protocol
        if proto not in PROTOCOLS:
            raise ConfigurationError(f"MESHSTREAM_KAFKA_SECURITY_PROTOCOL={proto!r}: one of {', '.join(PROTOCOLS)}")
        if proto.startswith("SASL") and not (self.kafka_sasl_username and self.kafka_sasl_password):
            raise ConfigurationError(f"{proto} needs MESHSTREAM_KAFKA_SASL_USERNAME and MESHSTREAM_KAFKA_SASL_PASSWORD (or _FILE)")
        if not self.kafka_bootstrap:
            raise ConfigurationError("MESHSTREAM_KAFKA_BOOTSTRAP is empty")
        if not self.registry_url.startswith(("http://", "https://")):
            raise ConfigurationError(f"MESHSTREAM_SCHEMA_REGISTRY_URL={self.registry_url!r}: not an http(s) URL")
