"""Kafka over SASL_SSL (SCRAM-SHA-512) with mutual TLS, end to end: a private stack whose broker
has a SASL_SSL listener with a generated CA, a real worker and CLI configured only through
MESHSTREAM_* (secrets as `_FILE`), a scan -> completion, and then every log line and every event
of the run scanned for the secrets it was given.

Its own stack (`secure_stack`, tests/conftest.py, shared with the Node client's secured test): the
session stack is plaintext.
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys
import uuid

import pytest
from confluent_kafka import Consumer, KafkaException
from confluent_kafka.admin import AdminClient

from meshstream.worker_process import WorkerProcess
from processors.samples import sample_models
from registry.serde import AvroSerde, registry_client
from streams.core.security import kafka_client_config
from streams.core.settings import Settings
from tests.conftest import ROOT
from tests.integration.helpers import terminal_events, upload

pytestmark = pytest.mark.integration


def test_scan_to_completion_over_sasl_ssl_and_no_secret_leaks(secure_stack, tmp_path):
    config = secure_stack.config
    s3_key_file = tmp_path / "s3.secret"
    s3_key_file.write_text(config.s3_secret_key)
    registry_password = f"reg-{secrets.token_urlsafe(18)}"
    env = {**config.client_env(), "MESHSTREAM_S3_SECRET_KEY": "", "MESHSTREAM_S3_SECRET_KEY_FILE": str(s3_key_file),
           # the local registry has no auth; the password is still sent and so must never leak
           "MESHSTREAM_SCHEMA_REGISTRY_USER": "meshstream", "MESHSTREAM_SCHEMA_REGISTRY_PASSWORD": registry_password,
           "MESHSTREAM_APP_ID": f"sasl-{uuid.uuid4().hex[:6]}", "MESHSTREAM_SESSION_TIMEOUT": "6",
           "MESHSTREAM_SPOOL_DIR": str(tmp_path / "spool"), "MESHSTREAM_TIMEOUT_CHECK_SECONDS": "2"}
    assert "MESHSTREAM_KAFKA_SASL_PASSWORD" not in env and env["MESHSTREAM_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    settings = Settings.from_env(env)
    given = settings.secrets()
    assert len(given) == 3 and registry_password in given and config.s3_secret_key in given

    # the secured listener really is secured: no client certificate or a wrong password is refused
    for broken in ({"ssl.certificate.location": None, "ssl.key.location": None}, {"sasl.password": "wrong"}):
        conf = {k: v for k, v in {**kafka_client_config(settings), **broken}.items() if v is not None}
        with pytest.raises(KafkaException):
            AdminClient({**conf, "log_level": 0}).list_topics(timeout=6)

    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        from processors.storage import connect

        s3 = connect(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
        bucket, prefix = "models", f"sasl-{uuid.uuid4().hex[:6]}/"
        upload(s3, bucket, {prefix + "cube.stl": sample_models()["cube_10mm.stl"]})
        cli = subprocess.run([sys.executable, "-m", "meshstream.cli", "scan", "--bucket", bucket, "--prefix", prefix,
                              "--workflow", "minimal"], cwd=ROOT, env={**os.environ, **env},
                             capture_output=True, text=True, timeout=120)
        assert cli.returncode == 0, cli.stderr
        scan_id = cli.stdout.strip()
        serde = AvroSerde(registry_client(settings))
        completed, failed = terminal_events(settings, serde, scan_id, expected=1, timeout=180, settle=0)
        assert len(completed) == 1 and not failed
        assert worker.alive

        # the Python client package, configured by the same variables, gets the event over SASL_SSL
        # + mTLS, and a wrong password is its AuthenticationFailed (clients/python)
        from meshstream_client import AuthenticationFailed, Settings as ClientSettings, Subscriber

        client_settings = ClientSettings.from_env(env)
        with Subscriber(settings=client_settings, group_id=f"sasl-client-{uuid.uuid4().hex[:6]}") as sub:
            got = []
            for ev in sub.events(timeout=60):
                if ev.payload.scan_id == scan_id:
                    got.append(ev.payload.name)
                    break  # the stack is private: this run's one terminal event is all there is
        assert got == [completed[0]["payload"]["name"]]
        refused = Subscriber(settings=client_settings.replace(kafka_sasl_password="wrong"), group_id="sasl-refused")
        with pytest.raises(AuthenticationFailed):
            list(refused.events(timeout=10))
    finally:
        worker.stop()

    # every event of the run, raw, on every topic of this private cluster
    consumer = Consumer({**kafka_client_config(settings), "group.id": "secret-scan", "auto.offset.reset": "earliest",
                         "enable.auto.commit": False})
    topics = [t for t in consumer.list_topics(timeout=10).topics if not t.startswith("__")]
    consumer.subscribe(topics)
    blobs, idle = [], 0
    while idle < 6:
        msg = consumer.poll(0.5)
        if msg is None or msg.error():
            idle += 1
            continue
        idle = 0
        blobs.append((msg.key() or b"") + (msg.value() or b""))
    consumer.close()
    assert len(blobs) > 10, "the run produced events to scan"
    logs = [cli.stdout, cli.stderr, (tmp_path / "worker.log").read_text(errors="replace")]
    logs += [p.read_text(errors="replace") for p in config.logs_dir.rglob("*") if p.is_file()]
    for secret in given:
        assert not any(secret.encode() in blob for blob in blobs), "a secret is inside an event"
        assert not any(secret in text for text in logs), "a secret is in a log"
