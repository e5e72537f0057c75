"""Kafka security settings map onto confluent-kafka and Faust/aiokafka from one place; secrets
come from the environment or files it names, and never show in repr()."""
from __future__ import annotations

import pytest

from streams.core.security import faust_broker_credentials, kafka_client_config
from streams.core.settings import Settings


def _sasl_env(tmp_path, **extra):
    pw = tmp_path / "pw"
    pw.write_text("s3cr3t-from-file\n")
    return {"MESHSTREAM_KAFKA_BOOTSTRAP": "127.0.0.1:9094", "MESHSTREAM_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "MESHSTREAM_KAFKA_SASL_USERNAME": "svc", "MESHSTREAM_KAFKA_SASL_PASSWORD_FILE": str(pw), **extra}


def test_plaintext_is_just_the_bootstrap():
    assert kafka_client_config(Settings.from_env({"MESHSTREAM_KAFKA_BOOTSTRAP": "h:1"})) == {"bootstrap.servers": "h:1"}
    assert faust_broker_credentials(Settings.from_env({})) is None


def test_sasl_ssl_with_password_file_and_mtls(tmp_path):
    from tests.unit.core.tls_fixture import make_tls

    tls = make_tls(tmp_path)
    s = Settings.from_env(_sasl_env(tmp_path, MESHSTREAM_KAFKA_SSL_CA_LOCATION=str(tls.ca),
                                    MESHSTREAM_KAFKA_SSL_CERTIFICATE_LOCATION=str(tls.client_cert),
                                    MESHSTREAM_KAFKA_SSL_KEY_LOCATION=str(tls.client_key)))
    conf = kafka_client_config(s)
    assert conf == {"bootstrap.servers": "127.0.0.1:9094", "security.protocol": "SASL_SSL",
                    "sasl.mechanism": "SCRAM-SHA-512", "sasl.username": "svc", "sasl.password": "s3cr3t-from-file",
                    "ssl.ca.location": str(tls.ca), "ssl.certificate.location": str(tls.client_cert),
                    "ssl.key.location": str(tls.client_key)}
    creds = faust_broker_credentials(s)
    assert creds.protocol.value == "SASL_SSL" and creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.username == "svc" and creds.password == "s3cr3t-from-file" and creds.ssl_context is not None
    assert "s3cr3t" not in repr(s) and "s3cr3t-from-file" in s.secrets()


def test_environment_value_wins_over_file_and_misconfiguration_fails_loudly(tmp_path):
    s = Settings.from_env(_sasl_env(tmp_path, MESHSTREAM_KAFKA_SASL_PASSWORD="direct"))
    assert s.kafka_sasl_password == "direct"
    with pytest.raises(ValueError, match="SASL_USERNAME"):
        kafka_client_config(Settings.from_env({"MESHSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL"}))
    with pytest.raises(ValueError, match="expected one of"):
        kafka_client_config(Settings.from_env({"MESHSTREAM_KAFKA_SECURITY_PROTOCOL": "TLS"}))


def test_s3_and_registry_tls_settings(tmp_path):
    key = tmp_path / "s3key"
    key.write_text("abc")
    s = Settings.from_env({"MESHSTREAM_S3_SECRET_KEY_FILE": str(key), "MESHSTREAM_S3_SECRET_KEY": "",
                           "MESHSTREAM_S3_CA_LOCATION": "/ca.pem", "MESHSTREAM_SCHEMA_REGISTRY_CA_LOCATION": "/rca.pem",
                           "MESHSTREAM_SCHEMA_REGISTRY_USER": "u", "MESHSTREAM_SCHEMA_REGISTRY_PASSWORD": "p"})
    conn = s.storage("default")
    assert conn.secret_key == "abc" and conn.ca_location == "/ca.pem" and "abc" not in repr(conn)
    assert s.registry_config() == {"url": s.registry_url, "ssl.ca.location": "/rca.pem", "basic.auth.user.info": "u:p"}
