"""Run `meshstream worker` as a child process and know when it is ready.

Used by `meshstream demo` and by the integration tests, which stop and restart real worker
processes rather than simulating them.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from stack.config import free_port

ROOT = Path(__file__).resolve().parents[1]
READY_MARK = "Ready"  # Faust logs "[^Worker]: Ready" once agents run and partitions are assigned


class WorkerProcess:
    def __init__(self, env: dict[str, str], log_path: Path, stages: str | None = None, cpus: set[int] | None = None):
        self.cpus = cpus  # CPU affinity (benchmarks: a worker limited to one core)
        self.env = env
        self.log_path = Path(log_path)
        self.stages = stages
        self.proc: subprocess.Popen | None = None
        self.url: str | None = None  # its HTTP API and console, once launched with a fixed port
        self._offset = 0

    def start(self, timeout: float = 120.0) -> "WorkerProcess":
        return self.launch().wait_ready(timeout)

    def launch(self) -> "WorkerProcess":
        """Start the process without waiting (several workers can then start at the same instant)."""
        argv = [sys.executable, "-m", "meshstream.cli", "worker"]
        if self.stages:
            argv += ["--stages", self.stages]
        env = {**os.environ, **self.env}
        env.setdefault("MESHSTREAM_WEB_PORT", str(free_port()))
        self.url = f"http://127.0.0.1:{env['MESHSTREAM_WEB_PORT']}" if env["MESHSTREAM_WEB_PORT"] else None
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                         stdin=subprocess.DEVNULL, start_new_session=True)
        if self.cpus:  # set before the interpreter has started threads or pool processes (inherited)
            os.sched_setaffinity(self.proc.pid, self.cpus)
        return self

    def wait_ready(self, timeout: float = 120.0) -> "WorkerProcess":
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"worker exited with {self.proc.returncode}; log {self.log_path}:\n{self.log()[-4000:]}")
            if READY_MARK in self.log():
                return self
            time.sleep(0.3)
        raise TimeoutError(f"worker not ready after {timeout}s; log {self.log_path}:\n{self.log()[-4000:]}")

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        try:
            return self.log_path.read_bytes()[self._offset:].decode(errors="replace")
        except OSError:
            return ""

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int | None:
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
