"""The Python client package (clients/python) as a downstream service gets it: a wheel, installed
into a fresh virtualenv that has no worker code, against the real stack and a real worker.

The venv imports `meshstream_client` and cannot import `streams`, `registry` or any other
package of the repository; a scan published from it is completed by the session's worker and
its terminal events reach a subscriber in the same venv, typed (the generated classes). The
default consumer group is stable: a subscriber started after more events were published gets
those, and none of the events it already handled. With the registry or the broker down, the
client raises its own errors, in seconds.
"""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from processors.samples import sample_models
from registry.serde import AvroSerde, registry_client
from tests.integration.helpers import terminal_events, upload
from tests.integration.test_spine import _expected_models

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
TOOL = Path(__file__).with_name("pyclient") / "venv_tool.py"


def _run(cmd: list[str], cwd: Path, timeout: float, env: dict | None = None) -> subprocess.CompletedProcess:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout, env=env)
    assert done.returncode == 0, f"{cmd}: exit {done.returncode}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _pins(lock: Path) -> str:
    """`name==version` of every package in the project's lock: the venv gets the versions CI tests."""
    return "\n".join(re.findall(r"^([A-Za-z0-9_.\-]+==[^\s\\;]+)", lock.read_text(), flags=re.M)) + "\n"


@pytest.fixture(scope="module")
def client_venv(tmp_path_factory) -> Path:
    """A fresh virtualenv holding the client's wheel and its dependencies, nothing else."""
    work = tmp_path_factory.mktemp("pyclient")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check", "-q",
          "-w", str(work / "dist"), str(ROOT / "clients" / "python")], cwd=work, timeout=300)
    wheel = next((work / "dist").glob("meshstream_client-*.whl"))
    _run([sys.executable, "-m", "venv", str(work / "venv")], cwd=work, timeout=120)
    (work / "pins.txt").write_text(_pins(ROOT / "requirements.lock"))
    _run([str(work / "venv" / "bin" / "python"), "-m", "pip", "install", "-q", "--disable-pip-version-check",
          "-c", str(work / "pins.txt"), str(wheel)], cwd=work, timeout=600)
    return work


def _tool(venv: Path, command: dict, env: dict, timeout: float = 300) -> dict:
    """Run venv_tool.py with the venv's python, from a directory outside the repository and
    without PYTHONPATH, so only what the venv installed is importable."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("MESHSTREAM_", "PYTHON", "VIRTUAL_ENV"))}
    done = _run([str(venv / "venv" / "bin" / "python"), str(TOOL), json.dumps(command)], cwd=venv, timeout=timeout,
                env={**clean, **env})
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_wheel_installs_without_any_worker_package(client_venv):
    out = _tool(client_venv, {"do": "imports"}, env={})
    assert out["packages"] == {name: "ModuleNotFoundError" for name in
                               ("streams", "registry", "processors", "stack", "schemas", "meshstream")}
    assert out["client"].startswith(str(client_venv / "venv"))  # the installed wheel, not the source tree
    dists = _run([str(client_venv / "venv" / "bin" / "python"), "-m", "pip", "list", "--format=json"],
                 cwd=client_venv, timeout=60).stdout
    names = {d["name"].lower() for d in json.loads(dists)}
    assert "meshstream-client" in names and "meshstream" not in names and "faust-streaming" not in names


def test_scan_from_the_venv_is_completed_by_a_worker_and_its_events_arrive_typed(client_venv, stack_env, s3, worker, settings):
    samples = sample_models()
    bucket, prefix_a, prefix_b = "models", f"pyclient-a-{uuid.uuid4().hex[:8]}/", f"pyclient-b-{uuid.uuid4().hex[:8]}/"
    upload(s3, bucket, {prefix_a + k: v for k, v in samples.items()})
    upload(s3, bucket, {prefix_b + "cube_10mm.stl": samples["cube_10mm.stl"]})
    expected_a = _expected_models(samples)

    scan_a = _tool(client_venv, {"do": "scan", "bucket": bucket, "prefix": prefix_a}, stack_env)["scan_id"]
    first = _tool(client_venv, {"do": "wait", "expected": {scan_a: expected_a}, "timeout": 240}, stack_env, timeout=300)
    events = first["events"][scan_a]
    assert len(events) == expected_a and len({e["event_id"] for e in events}) == expected_a
    cube = next(e for e in events if e["name"].startswith("cube"))
    assert (cube["contract"], cube["type"]) == ("processing.completed", "ProcessingCompleted")
    assert cube["triangles"] == 12 and cube["watertight"] is True and cube["volume"] == pytest.approx(1000.0, rel=1e-6)
    assert cube["occurred_at_tz"] == "UTC"  # timestamp-millis arrives as an aware datetime
    failed = [e for e in events if e["contract"] == "processing.failed"]
    assert len(failed) == 1 and "corrupt" in failed[0]["name"] and failed[0]["error_code"]
    assert first["skipped"] == 0

    # the service is down while another scan completes; restarted in the same (default) group,
    # it gets that scan's event and none of those it handled and committed before
    scan_b = _tool(client_venv, {"do": "scan", "bucket": bucket, "prefix": prefix_b}, stack_env)["scan_id"]
    # the worker's own reader witnesses the completion before the service comes back
    terminal_events(settings, AvroSerde(registry_client(settings)), scan_b, expected=1, settle=0)
    second = _tool(client_venv, {"do": "wait", "expected": {scan_b: 1}, "timeout": 60}, stack_env, timeout=120)
    assert [e["name"].startswith("cube") for e in second["events"][scan_b]] == [True]
    assert scan_a not in second["others"]
    assert first["group"] == second["group"] == first["default_group"] == "meshstream-python-client"  # as documented


def test_registry_and_broker_down_raise_client_errors_quickly(client_venv, stack_env):
    dead = {"dead_url": "http://127.0.0.1:9/apis/ccompat/v7", "dead_broker": "127.0.0.1:9"}
    out = _tool(client_venv, {"do": "errors", **dead}, stack_env, timeout=120)
    assert out["registry_down"]["raised"] == "RegistryUnavailable" and out["registry_down"]["seconds"] < 3, out
    assert out["broker_down_publish"]["raised"] == "BrokerUnavailable", out
    assert out["broker_down_publish"]["seconds"] < 10, out
    assert out["broker_down_events"]["raised"] == "BrokerUnavailable", out
    assert out["broker_down_events"]["seconds"] < 8, out
