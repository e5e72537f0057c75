"""Every command that talks to the stack, run as a new user would with the stack stopped: one
line naming what it could not reach (with the address) and the fix, a non-zero exit, no
traceback and no client-library noise. Real processes against closed loopback ports."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from meshstream.worker_process import ROOT, free_port

COMMANDS = [["scan", "--bucket", "models"], ["scan", "--bucket", "models", "--json"], ["status"], ["status", "x"],
            ["scan", "--bucket", "models", "--wait"],
            ["subscribe", "--timeout", "2"], ["replay", "dead-letters", "--dry-run"],
            ["worker"], ["contracts", "diff"], ["contracts", "register", "--dry-run"]]


@pytest.fixture(scope="module")
def stopped_env():
    port = free_port()  # nothing listens on it: a stopped stack
    return {**os.environ, "MESHSTREAM_KAFKA_BOOTSTRAP": f"127.0.0.1:{port}",
            "MESHSTREAM_SCHEMA_REGISTRY_URL": f"http://127.0.0.1:{port}/apis/ccompat/v7",
            "MESHSTREAM_S3_ENDPOINT": f"127.0.0.1:{port}", "MESHSTREAM_API_URL": f"http://127.0.0.1:{port}"}


@pytest.mark.parametrize("argv", COMMANDS, ids=" ".join)
def test_command_with_the_stack_stopped_says_what_and_how_to_fix(argv, stopped_env):
    proc = subprocess.run([sys.executable, "-m", "meshstream.cli", *argv], cwd=ROOT, env=stopped_env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 3, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr and not proc.stdout
    assert "cannot reach the" in lines[0] and "127.0.0.1:" in lines[0]
    fix = "meshstream worker" if argv[0] == "status" else "meshstream stack up"
    assert fix in lines[0], lines[0]


def test_other_errors_are_one_line_too(stopped_env, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "meshstream.cli", "workflows", "show", "no-such-flow"], cwd=ROOT,
                          env=stopped_env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2 and "unknown workflow" in proc.stderr and "Traceback" not in proc.stderr
