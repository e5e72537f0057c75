"""`stack up` is idempotent and `stack down` stops only what this stack started."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from dataclasses import replace

import pytest
import requests

from stack.config import StackConfig
from stack.manager import LocalStack
from stack.services import S3Server
from tests.conftest import ROOT

pytestmark = pytest.mark.integration


def test_up_twice_is_harmless(stack):
    before = {s.name: s.pid for s in stack.status()}
    assert all(before.values())
    again = LocalStack(stack.config)
    assert again.up() == []  # nothing started the second time
    assert {s.name: s.pid for s in again.status()} == before


def test_status_and_env_from_the_cli(stack):
    env = {"MESHSTREAM_STACK_DIR": str(stack.config.data_dir),
           **{f"MESHSTREAM_PORT_{k.upper()}": str(v) for k, v in vars(stack.config.ports).items()}}
    out = subprocess.run([sys.executable, "-m", "meshstream.cli", "stack", "status"], cwd=ROOT,
                         env={**__import__("os").environ, **env}, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    assert out.stdout.count("running (pid") == 3
    up = subprocess.run([sys.executable, "-m", "meshstream.cli", "stack", "up"], cwd=ROOT,
                        env={**__import__("os").environ, **env}, capture_output=True, text=True)
    assert up.returncode == 0 and "nothing (already running)" in up.stdout


def test_down_never_stops_a_process_it_did_not_start(tmp_path, stack):
    bystander = subprocess.Popen(["sleep", "120"])
    try:
        other = LocalStack(StackConfig().with_free_ports(tmp_path))
        run = other.config.data_dir / "run"
        run.mkdir(parents=True)
        # a stale pid file naming a pid that now belongs to someone else (start time differs)
        for name in ("kafka", "registry", "s3"):
            (run / f"{name}.pid").write_text(json.dumps({"pid": bystander.pid, "start_ticks": 1}))
        assert other.down() == []
        assert bystander.poll() is None, "down() must not signal a process it did not start"
        assert all(s.running for s in stack.status()), "another stack's down() left ours alone"
    finally:
        bystander.kill()
        bystander.wait()


def test_the_s3_server_runs_on_the_cores_it_is_given(stack):
    """Go schedules the local S3 server on MESHSTREAM_STACK_S3_CORES cores (default one: its idle
    processors' spinning cost a third of its CPU per request, bench/s3_server_cores.py), as the
    server's own runtime reports it, not as we passed it."""
    metrics = requests.get(f"http://127.0.0.1:{stack.config.ports.seaweed_metrics}/metrics", timeout=10).text
    gomaxprocs = re.search(r"^go_sched_gomaxprocs_threads (\S+)$", metrics, re.M)
    assert gomaxprocs, "the S3 server exports the Go runtime's metrics"
    assert stack.config.s3_cores == 1
    assert float(gomaxprocs.group(1)) == 1


def test_a_negative_s3_core_count_is_refused_by_name(tmp_path):
    config = replace(StackConfig().with_free_ports(tmp_path), s3_cores=-1)
    with pytest.raises(ValueError, match="MESHSTREAM_STACK_S3_CORES"):
        S3Server(config).env()
