"""Replay helpers that need no broker: positions, the new run's discovered payload."""
from __future__ import annotations

import pytest

from streams.client.replay import ReplayError, _common_folder, discovered_from, parse_position


def test_positions_are_offsets_or_times():
    assert parse_position(None) is None
    assert parse_position("42") == ("offset", 42)
    assert parse_position("1700000000000ms") == ("time", 1_700_000_000_000)
    assert parse_position("2026-11-25T08:00:00Z") == ("time", 1795593600000)
    assert parse_position("2026-11-25T08:00:00") == parse_position("2026-11-25T08:00:00+00:00")
    with pytest.raises(ReplayError, match="neither an offset nor an ISO time"):
        parse_position("yesterday")


def test_a_terminal_event_becomes_a_new_run_of_the_same_model():
    files = [{"storage": "default", "bucket": "b", "key": "lib/dragon/top.stl", "etag": "e", "size_bytes": 1},
             {"storage": "default", "bucket": "b", "key": "lib/dragon/base.stl", "etag": "f", "size_bytes": 2}]
    terminal = {"run_id": "old", "model_id": "m", "scan_id": "s", "name": "dragon", "workflow": "standard",
                "files": files, "owner_id": "o", "collection_id": None, "metadata": None, "stages": [], "results": []}
    p = discovered_from(terminal, "new", "complete")
    assert (p["run_id"], p["model_id"], p["workflow"], p["folder"], p["owner_id"]) == ("new", "m", "complete", "lib/dragon/", "o")
    assert p["files"] == files
    assert _common_folder(["a.stl"]) == "" and _common_folder([]) == ""
