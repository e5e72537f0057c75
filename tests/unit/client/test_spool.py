"""The publisher spool on its own: durable entries in publish order, bounds refuse (never drop),
rejected records are kept aside, and the spool is keyed per cluster."""
from __future__ import annotations

import pytest

from streams.client import spool_for
from streams.core.settings import Settings
from streams.client.spool import Spool, SpoolFullError


def test_entries_survive_a_new_instance_in_order(tmp_path):
    spool = Spool(tmp_path)
    for i in range(3):
        spool.append("topic.a", f"k{i}".encode(), bytes([i, 0, 255]), f"event-{i}")
    again = Spool(tmp_path)  # e.g. the next process
    pending = again.pending()
    assert [(r.key, r.value, r.event_id) for r in pending] == [
        (f"k{i}".encode(), bytes([i, 0, 255]), f"event-{i}") for i in range(3)]
    again.remove(pending[0])
    assert [r.event_id for r in Spool(tmp_path).pending()] == ["event-1", "event-2"]
    assert not list(tmp_path.glob("*.tmp"))


def test_bounds_refuse_new_records_and_keep_old_ones(tmp_path):
    spool = Spool(tmp_path, max_records=2)
    spool.append("t", b"k", b"v1", "e1")
    spool.append("t", b"k", b"v2", "e2")
    with pytest.raises(SpoolFullError):
        spool.append("t", b"k", b"v3", "e3")
    assert [r.event_id for r in spool.pending()] == ["e1", "e2"]
    small = Spool(tmp_path / "bytes", max_bytes=200)
    with pytest.raises(SpoolFullError):
        small.append("t", b"k", b"x" * 300, "big")
    assert len(small) == 0


def test_rejected_records_are_kept_aside(tmp_path):
    spool = Spool(tmp_path)
    rec = spool.append("t", b"k", b"v", "e")
    spool.reject(rec)
    assert len(spool) == 0
    assert len(list((tmp_path / "rejected").iterdir())) == 1


def test_one_spool_directory_per_cluster(tmp_path):
    a = spool_for(Settings.from_env({"MESHSTREAM_SPOOL_DIR": str(tmp_path), "MESHSTREAM_KAFKA_BOOTSTRAP": "a:9092"}))
    b = spool_for(Settings.from_env({"MESHSTREAM_SPOOL_DIR": str(tmp_path), "MESHSTREAM_KAFKA_BOOTSTRAP": "b:9092"}))
    assert a.dir != b.dir and a.dir.parent == b.dir.parent == tmp_path
