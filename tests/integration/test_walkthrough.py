"""The README's newcomer walkthrough, run line by line exactly as written, against a private stack.

The block between `<!-- walkthrough -->` markers in README.md is run by one bash (`set -e`, so a
failing line fails the test), from the repository root, with only the stack's location changed:
MESHSTREAM_STACK_DIR and MESHSTREAM_PORT_* pick a temporary directory and free ports, and the
worker's web port is a free one, so the run never meets a developer's own stack. Every line's
output is checked for what a newcomer relies on: the upload's counts, the scan's rows, the same
six terminal events from the Python and the Node subscriber, the status overview, the replay
range, and the stack stopping.
"""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from meshstream.worker_process import ROOT, free_port

pytestmark = pytest.mark.integration

MARK = "@@@walkthrough-step@@@"


def walkthrough_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"<!-- walkthrough -->\s*```sh\n(.*?)```\s*<!-- /walkthrough -->", text, re.S)
    assert block, "README.md has no walkthrough block"
    return [line for line in block.group(1).splitlines() if line.strip()]


TIMES = "walkthrough-times.log"  # in the repository root during the run (ignored: *.log); removed after


def script(lines: list[str]) -> str:
    out = ["set -e"]
    for i, line in enumerate(lines):
        out += [f"echo '{MARK} {i}'", f"echo \"$(date +%s.%N)\" >> {TIMES}", line]
    out += [f"echo \"$(date +%s.%N)\" >> {TIMES}", f"echo '{MARK} end'"]
    return "\n".join(out) + "\n"


def split_outputs(stdout: str, count: int) -> list[str]:
    parts = re.split(rf"^{MARK} (\d+|end)\n", stdout, flags=re.M)
    found = {parts[i]: parts[i + 1] for i in range(1, len(parts) - 1, 2)}
    return [found.get(str(i), "") for i in range(count)]


def private_env(tmp: Path) -> tuple[dict[str, str], object]:
    from stack.config import Ports, StackConfig

    ports = Ports.free()
    web = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("MESHSTREAM_")}
    env.update({f"MESHSTREAM_PORT_{name.upper()}": str(getattr(ports, name)) for name in ports.__dataclass_fields__})
    env.update({"MESHSTREAM_STACK_DIR": str(tmp / "stack"), "MESHSTREAM_WEB_PORT": str(web),
                "MESHSTREAM_API_URL": f"http://127.0.0.1:{web}"})
    return env, StackConfig(data_dir=(tmp / "stack").resolve(), ports=ports)


def events_of(output: str, scan_id: str) -> list[dict]:
    docs = [json.loads(line) for line in output.splitlines() if line.startswith("{")]
    return [d for d in docs if d["payload"]["scan_id"] == scan_id]


def test_the_readme_walkthrough_runs_as_written(tmp_path):
    from stack.manager import LocalStack

    lines = walkthrough_lines()
    env, config = private_env(tmp_path)
    log = ROOT / "worker.log"
    kept = log.read_bytes() if log.exists() else None
    t0 = time.monotonic()
    proc = subprocess.Popen(["bash", "-c", script(lines)], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        stdout, stderr = proc.communicate(timeout=420)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the bash this test started, and its background worker
        stdout, stderr = proc.communicate()
        pytest.fail(f"walkthrough still running after 420 s:\n{stdout[-3000:]}\n{stderr[-3000:]}")
    finally:
        took = time.monotonic() - t0
        worker_log = log.read_text(errors="replace") if log.exists() else ""
        times_file = ROOT / TIMES
        stamps = [float(t) for t in times_file.read_text().split()] if times_file.exists() else []
        times_file.unlink(missing_ok=True)
        LocalStack(config).down()  # whatever the walkthrough left running, after a failure
        if kept is not None:
            log.write_bytes(kept)
        elif log.exists():
            log.unlink()
    print(f"walkthrough: {len(lines)} commands in {took:.0f} s")
    for line, start, end in zip(lines, stamps, stamps[1:]):
        print(f"  {end - start:6.1f} s  {line.split('#')[0].strip()[:90]}")
    assert proc.returncode == 0, f"exit {proc.returncode}\n{stdout[-4000:]}\n{stderr[-4000:]}\n{worker_log[-3000:]}"
    assert f"{MARK} end" in stdout  # every line ran
    by_cmd = split_outputs(stdout, len(lines))

    def output(word: str) -> str:
        matches = [o for line, o in zip(lines, by_cmd) if word in line and not line.startswith("until ")]
        assert matches, f"no walkthrough line with {word!r}"
        return matches[0]

    assert "started:" in output("stack up") and "kafka" in output("stack up")
    upload = output("meshstream upload")
    assert "uploaded 7 files" in upload and "6 models" in upload and "s3://models/first/" in upload
    scan_lines = output("meshstream scan").strip().splitlines()
    scan_id = scan_lines[0].strip()
    rows = [r.split() for r in scan_lines[2:]]
    assert len(rows) == 6, scan_lines
    states = sorted(r[1] for r in rows)
    assert states.count("completed") == 5 and states.count("failed") == 1, scan_lines
    assert any(r[0] == "corrupt" and "corrupt_mesh" in " ".join(r) for r in rows), scan_lines

    python_events = events_of(output("meshstream subscribe"), scan_id)
    node_events = events_of(output("meshstream-subscribe.js"), scan_id)
    for events in (python_events, node_events):
        assert sorted(e["contract"] for e in events) == ["processing.completed"] * 5 + ["processing.failed"]
    assert {e["payload"]["model_id"] for e in python_events} == {e["payload"]["model_id"] for e in node_events}
    assert {e["envelope"]["event_id"] for e in python_events} == {e["envelope"]["event_id"] for e in node_events}

    status = output(".venv/bin/meshstream status ")  # the overview line, not the wait loop
    assert "ready" in status and re.search(r"completed 5", status) and re.search(r"failed 1", status), status
    replay = output("replay topic")
    assert "dry run: nothing published" in replay and re.search(r"read [1-9]\d* record\(s\)", replay), replay
    assert "stopped:" in output("stack down") and "kafka" in output("stack down")
    assert took < 300, f"the walkthrough took {took:.0f} s"
