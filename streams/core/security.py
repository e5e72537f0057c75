"""Kafka transport security in one place, for both client families meshstream uses.

Why one module: the CLI, the Publisher/Subscriber, admin calls and replay use confluent-kafka
(librdkafka property names); the worker uses Faust/aiokafka (an `ssl.SSLContext` plus SASL
credentials). Both are derived here from the same MESHSTREAM_KAFKA_* settings, so a cluster
secured with SASL_SSL (SCRAM-SHA-512) and/or mutual TLS needs one configuration, not two.
Secrets come from Settings (environment or `_FILE`), never from code or arguments.
"""
from __future__ import annotations

import ssl

from streams.core.settings import Settings

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


def _check(settings: Settings) -> str:
    proto = settings.kafka_security_protocol
    if proto not in PROTOCOLS:
        raise ValueError(f"MESHSTREAM_KAFKA_SECURITY_PROTOCOL={proto!r}: expected one of {', '.join(PROTOCOLS)}")
    if proto.startswith("SASL") and not (settings.kafka_sasl_username and settings.kafka_sasl_password):
        raise ValueError(f"{proto} needs MESHSTREAM_KAFKA_SASL_USERNAME and MESHSTREAM_KAFKA_SASL_PASSWORD (or _FILE)")
    return proto


def kafka_client_config(settings: Settings) -> dict:
    """bootstrap.servers plus security properties for any confluent-kafka client."""
    proto = _check(settings)
    conf = {"bootstrap.servers": settings.kafka_bootstrap}
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


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """A verifying TLS context: the configured CA (or the system's), and a client certificate for mTLS."""
    ctx = ssl.create_default_context(cafile=settings.kafka_ssl_ca_location)
    if settings.kafka_ssl_certificate_location:
        ctx.load_cert_chain(settings.kafka_ssl_certificate_location, settings.kafka_ssl_key_location,
                            password=settings.kafka_ssl_key_password)
    return ctx


def aiokafka_client_config(settings: Settings) -> dict:
    """Keyword arguments for a plain aiokafka client (the read model's group-less consumer)."""
    proto = _check(settings)
    conf: dict = {"bootstrap_servers": settings.kafka_bootstrap, "security_protocol": proto}
    if proto.endswith("SSL"):
        conf["ssl_context"] = ssl_context(settings)
    if proto.startswith("SASL"):
        conf.update(sasl_mechanism=settings.kafka_sasl_mechanism, sasl_plain_username=settings.kafka_sasl_username,
                    sasl_plain_password=settings.kafka_sasl_password)
    return conf


def faust_broker_credentials(settings: Settings):
    """`broker_credentials` for faust.App (None for PLAINTEXT)."""
    import faust

    proto = _check(settings)
    if proto == "PLAINTEXT":
        return None
    if proto == "SSL":
        return faust.SSLCredentials(ssl_context(settings))
    creds = faust.SASLCredentials(username=settings.kafka_sasl_username, password=settings.kafka_sasl_password,
                                  ssl_context=ssl_context(settings) if proto == "SASL_SSL" else None,
                                  mechanism=settings.kafka_sasl_mechanism)
    return creds
