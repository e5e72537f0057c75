"""Shared fixtures. Integration fixtures start the *real* stack (Apache Kafka, Apicurio Registry,
SeaweedFS S3) on free loopback ports in a temporary directory, once per test session, and stop
exactly what they started. Nothing depends on a server left running by hand."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    from stack.config import StackConfig
    from stack.manager import LocalStack

    config = StackConfig().with_free_ports(tmp_path_factory.mktemp("stack"))
    local = LocalStack(config)
    try:
        local.up()
    except Exception:
        local.down()
        raise
    yield local
    local.down()


@pytest.fixture(scope="session")
def stack_env(stack) -> dict[str, str]:
    return stack.config.client_env()


@pytest.fixture(scope="session")
def settings(stack_env):
    """Settings pointing at the test stack (and the env set for child processes)."""
    from meshstream.settings import Settings

    os.environ.update(stack_env)
    return Settings(**{
        "kafka_bootstrap": stack_env["MESHSTREAM_KAFKA_BOOTSTRAP"],
        "registry_url": stack_env["MESHSTREAM_SCHEMA_REGISTRY_URL"],
        "s3_endpoint": stack_env["MESHSTREAM_S3_ENDPOINT"],
        "s3_access_key": stack_env["MESHSTREAM_S3_ACCESS_KEY"],
        "s3_secret_key": stack_env["MESHSTREAM_S3_SECRET_KEY"],
    })


@pytest.fixture(scope="session")
def prepared(settings):
    """Contracts registered and topics created, as a worker does at start-up."""
    from streams.worker import prepare

    prepare(settings)
    return settings


@pytest.fixture(scope="session")
def s3(settings):
    from processors.storage import connect

    return connect(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WorkerProcess:
    """A real `meshstream worker` child process, stoppable and restartable like in production."""

    def __init__(self, env: dict[str, str], log_path: Path, stages: str | None = None):
        self.env = env
        self.log_path = log_path
        self.stages = stages
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 90.0) -> "WorkerProcess":
        argv = [sys.executable, "-m", "meshstream.cli", "worker"]
        if self.stages:
            argv += ["--stages", self.stages]
        env = {**os.environ, **self.env, "MESHSTREAM_WEB_PORT": str(free_port())}
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                     start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}:\n{self.log()[-4000:]}")
            if "Ready" in self.log():
                return self
            time.sleep(0.3)
        raise TimeoutError(f"worker not ready after {timeout}s:\n{self.log()[-4000:]}")

    def log(self) -> str:
        data = self.log_path.read_bytes()[self._offset:]
        return data.decode(errors="replace")

    def stop(self, sig: int = 15, timeout: float = 60.0) -> int:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else 0
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


@pytest.fixture(scope="session")
def worker(prepared, stack_env, tmp_path_factory):
    """One worker process (all stages) for the session, in one consumer group, like a deployment.

    Tests publish scans with unique ids and filter the terminal events by scan id; the group's
    committed offsets mean no test re-processes another's events. Tests that stop and restart it
    leave it running again.
    """
    env = {**stack_env, "MESHSTREAM_APP_ID": f"meshstream-test-{uuid.uuid4().hex[:8]}",
           "MESHSTREAM_SESSION_TIMEOUT": "6"}
    w = WorkerProcess(env, tmp_path_factory.mktemp("worker") / "worker.log").start()
    yield w
    w.stop()
