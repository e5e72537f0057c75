"""`--json` output of commands that need no servers parses as JSON with the expected shape."""
from __future__ import annotations

import json

from meshstream.cli import main


def test_stack_env_and_status_json(capsys, tmp_path):
    assert main(["stack", "env", "--json"]) == 0
    env = json.loads(capsys.readouterr().out)
    assert "MESHSTREAM_KAFKA_BOOTSTRAP" in env
    rc = main(["stack", "status", "--json", "--data-dir", str(tmp_path)])  # nothing of ours runs there
    rows = json.loads(capsys.readouterr().out)
    assert rc == 3 and rows and not any(r["running"] for r in rows)


def test_contracts_check_json(capsys):
    assert main(["contracts", "check", "--json", "--no-generated"]) == 0
    assert json.loads(capsys.readouterr().out)["ok"] is True
