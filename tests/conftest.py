"""Shared fixtures. Integration fixtures start the *real* stack (Apache Kafka, Apicurio Registry,
SeaweedFS S3) on free loopback ports in a temporary directory, once per test session, and stop
exactly what they started. Nothing depends on a server left running by hand."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from meshstream.worker_process import WorkerProcess

ROOT = Path(__file__).resolve().parents[1]


def start_stack(data_dir: Path, brokers: int = 1, **config):
    """A private stack on free ports: one Kafka broker, or a three-broker KRaft cluster; `config`
    overrides StackConfig fields (e.g. kafka_security)."""
    from dataclasses import replace

    from stack.config import StackConfig
    from stack.manager import LocalStack

    local = LocalStack(replace(StackConfig().with_free_ports(data_dir), brokers=brokers, **config))
    try:
        local.up()
    except Exception:
        local.down()
        raise
    return local


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    local = start_stack(tmp_path_factory.mktemp("stack"))
    yield local
    local.down()


@pytest.fixture(scope="module")
def cluster(request, tmp_path_factory):
    """A second, separate stack whose Kafka is a cluster: three brokers by default, or
    `@pytest.mark.parametrize("cluster", [n], indirect=True)`. Unlike `stack` it leaves
    os.environ alone: use `Settings.from_env(cluster.config.client_env())`."""
    local = start_stack(tmp_path_factory.mktemp("cluster"), brokers=getattr(request, "param", 3))
    yield local
    local.down()


@pytest.fixture(scope="session")
def secure_stack(tmp_path_factory):
    """A separate stack whose clients must use SASL_SSL (SCRAM-SHA-512) with mutual TLS, and a
    random S3 secret; shared by the Python and the Node client's secured tests (the session
    stack is plaintext). Clients: `Settings.from_env(secure_stack.config.client_env())`."""
    import secrets

    local = start_stack(tmp_path_factory.mktemp("sasl-stack"), kafka_security="sasl_ssl",
                        s3_secret_key=f"s3-{secrets.token_urlsafe(18)}")
    yield local
    local.down()


@pytest.fixture(scope="session")
def stack_env(stack) -> dict[str, str]:
    return stack.config.client_env()


@pytest.fixture(scope="session")
def settings(stack_env):
    """Settings pointing at the test stack (and the env set for child processes)."""
    from streams.core.settings import Settings

    os.environ.update(stack_env)
    return Settings.from_env(stack_env)


@pytest.fixture(scope="session")
def prepared(settings):
    """Contracts registered and topics created, as a worker does at start-up."""
    from streams.worker.main import prepare

    prepare(settings)
    return settings


@pytest.fixture(scope="session")
def s3(settings):
    from processors.storage import connect

    return connect(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)


@pytest.fixture(scope="session")
def flaky_storage_port() -> int:
    """The port of storage connection `flaky` (MESHSTREAM_STORAGE_FLAKY_*): the S3 server behind a
    fault-injection proxy that tests open and close (tests/integration/faults.py)."""
    from meshstream.worker_process import free_port

    return free_port()


@pytest.fixture(scope="session")
def worker(prepared, stack_env, tmp_path_factory, flaky_storage_port):
    """One worker process (all stages) for the session, in one consumer group, like a deployment.

    Tests publish scans with unique ids and filter the terminal events by scan id; the group's
    committed offsets mean no test re-processes another's events. Tests that stop and restart it
    leave it running again.
    """
    env = {**stack_env, "MESHSTREAM_APP_ID": f"meshstream-test-{uuid.uuid4().hex[:8]}",
           "MESHSTREAM_SESSION_TIMEOUT": "6",
           # overdue steps are requested again after a minute (production: workflows.yaml's 300 s)
           "MESHSTREAM_STEP_TIMEOUT_CAP": "60", "MESHSTREAM_QUEUE_TIMEOUT_CAP": "60",
           "MESHSTREAM_TIMEOUT_CHECK_SECONDS": "2",
           "MESHSTREAM_STORAGE_FLAKY_ENDPOINT": f"127.0.0.1:{flaky_storage_port}",
           "MESHSTREAM_STORAGE_FLAKY_ACCESS_KEY": stack_env["MESHSTREAM_S3_ACCESS_KEY"],
           "MESHSTREAM_STORAGE_FLAKY_SECRET_KEY": stack_env["MESHSTREAM_S3_SECRET_KEY"]}
    w = WorkerProcess(env, tmp_path_factory.mktemp("worker") / "worker.log").start()
    yield w
    w.stop()
