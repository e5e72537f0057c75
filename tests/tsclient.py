"""Build and drive the TypeScript client (clients/typescript) from pytest.

The Node side runs the package's own code (`build/test/tool.js`, compiled from test/tool.ts with
`tsc --strict`); each call passes JSON on stdin and gets JSON back, so a test can put the same
input through Python and TypeScript and compare. Node, npm and the package's node_modules come
from `make install` (`npm ci`); when they are missing the tests fail and say so, they never skip.
"""
from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "clients" / "typescript"
TSC = PACKAGE / "node_modules" / ".bin" / "tsc"
TOOL = PACKAGE / "build" / "test" / "tool.js"


def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("node is not on the PATH: install Node.js 20+ and npm (Debian: apt-get install nodejs npm), then `make install`")
    if not TSC.exists():
        pytest.fail(f"{TSC} is missing: run `make install` (it runs `npm ci` in clients/typescript)")
    return path


@functools.lru_cache(maxsize=1)
def build() -> subprocess.CompletedProcess:
    """`tsc -p clients/typescript` (strict, see tsconfig.json): compiles the client and its test tool."""
    node()
    return subprocess.run([str(TSC), "-p", str(PACKAGE / "tsconfig.json")], capture_output=True, text=True, timeout=300)


def built() -> Path:
    result = build()
    assert result.returncode == 0, f"tsc failed:\n{result.stdout}{result.stderr}"
    return TOOL


def to_json(value):
    """JSON-ready copy of a decoded Avro record: bytes as {"$bytes": hex}."""
    if isinstance(value, (bytes, bytearray)):
        return {"$bytes": bytes(value).hex()}
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_json(v) for v in value]
    return value


def run(command: str, payload: dict, env: dict[str, str] | None = None, timeout: float = 120):
    """Run one tool subcommand with `payload` on stdin; returns its JSON answer."""
    return run_logged(command, payload, env, timeout)[0]


def run_logged(command: str, payload: dict, env: dict[str, str] | None = None, timeout: float = 120):
    """`run`, also returning what the Node process wrote on stderr (kafkajs warnings), for a
    test to show when its assertion fails."""
    tool = built()
    result = subprocess.run([node(), str(tool), command], input=json.dumps(to_json(payload)), capture_output=True,
                            text=True, timeout=timeout, env={**os.environ, **(env or {})})
    assert result.returncode == 0, f"node {command} failed ({result.returncode}):\n{result.stderr}"
    return json.loads(result.stdout), result.stderr
