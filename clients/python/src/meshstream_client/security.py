"""Transport security and logging for every client this package creates, built in one place.

The producer, the consumer and the registry client all take their configuration from here, so
SASL/TLS settings cannot be honoured by one and forgotten by another (the CLI's topic-wait admin
client once was). librdkafka's own log lines go to the `meshstream_client.kafka` logger
instead of stderr, and its errors to a callback the client turns into exceptions.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from meshstream_client.settings import Settings

KAFKA_LOG = logging.getLogger("meshstream_client.kafka")


def kafka_config(settings: Settings, error_cb: Callable[[Any], None] | None = None) -> dict[str, Any]:
    """bootstrap.servers, security, logging: the base of every confluent-kafka client config."""
    settings.check()
    conf: dict[str, Any] = {"bootstrap.servers": settings.kafka_bootstrap, "logger": KAFKA_LOG,
                            "client.id": "meshstream-client"}
    if error_cb is not None:
        conf["error_cb"] = error_cb
    proto = settings.kafka_security_protocol
    if proto == "PLAINTEXT":
        return conf
    conf["security.protocol"] = proto
    if proto.startswith("SASL"):
        conf.update({"sasl.mechanism": settings.kafka_sasl_mechanism, "sasl.username": settings.kafka_sasl_username,
                     "sasl.password": settings.kafka_sasl_password})
    if proto.endswith("SSL"):
        for key, value in (("ssl.ca.location", settings.kafka_ssl_ca_location),
                           ("ssl.certificate.location", settings.kafka_ssl_certificate_location),
                           ("ssl.key.location", settings.kafka_ssl_key_location),
                           ("ssl.key.password", settings.kafka_ssl_key_password)):
            if value:
                conf[key] = value
    return conf


def registry_config(settings: Settings) -> dict[str, Any]:
    """confluent_kafka.schema_registry.SchemaRegistryClient config: URL, basic auth, CA, and a
    short timeout with one retry, so an unreachable registry is reported in seconds."""
    settings.check()
    conf: dict[str, Any] = {"url": settings.registry_url, "timeout": settings.registry_timeout,
                            "max.retries": 1, "retries.wait.ms": 200, "retries.max.wait.ms": 500}
    if settings.registry_ca_location:
        conf["ssl.ca.location"] = settings.registry_ca_location
    if settings.registry_user:
        conf["basic.auth.user.info"] = f"{settings.registry_user}:{settings.registry_password or ''}"
    return conf
