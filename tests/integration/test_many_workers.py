"""Workers started together on one host without MESHSTREAM_WEB_PORT each take a free port of
MESHSTREAM_WEB_PORTS, say which in their log and /health, and `meshstream status` lists them."""
from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid

import pytest
import requests

from meshstream.worker_process import WorkerProcess
from tests.conftest import ROOT
from tests.unit.test_web_port import _free_block

pytestmark = pytest.mark.integration


def test_two_workers_started_together_take_the_first_two_free_ports(prepared, stack_env, tmp_path):
    ports = _free_block(3)
    env = {**stack_env, "MESHSTREAM_APP_ID": f"meshstream-ports-{uuid.uuid4().hex[:8]}",
           "MESHSTREAM_WEB_PORT": "",  # unset: choose from the range
           "MESHSTREAM_WEB_PORTS": f"{ports.start}-{ports.stop - 1}"}
    workers = [WorkerProcess(env, tmp_path / f"w{i}.log", stages="orchestrator").launch() for i in range(2)]
    try:
        for w in workers:
            w.wait_ready(120)
        said = sorted(int(re.search(r"web API, metrics and dashboard on http://127\.0\.0\.1:(\d+)", w.log()).group(1))
                      for w in workers)
        assert said == [ports[0], ports[1]]
        deadline = time.monotonic() + 60  # the second one's join rebalances the first: both ready again
        while time.monotonic() < deadline and not all(
                requests.get(f"http://127.0.0.1:{p}/ready", timeout=5).status_code == 200 for p in said):
            time.sleep(0.5)
        health = {requests.get(f"http://127.0.0.1:{p}/health", timeout=5).json()["pid"]: p for p in said}
        assert sorted(health) == sorted(w.proc.pid for w in workers), "each port is a different worker"

        out = subprocess.run([sys.executable, "-m", "meshstream.cli", "status"], cwd=ROOT, capture_output=True,
                             text=True, env={**os.environ, **env, "MESHSTREAM_API_URL": f"http://127.0.0.1:{ports[0]}"})
        assert out.returncode == 0, out.stderr
        assert f"(web port {ports[0]}, pid " in out.stdout
        listed = re.search(r"workers on this host: (.*)", out.stdout).group(1)
        assert sorted(int(p) for p in re.findall(r"(\d+) \(pid", listed)) == said
    finally:
        for w in workers:
            w.stop()
