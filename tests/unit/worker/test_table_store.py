"""MESHSTREAM_TABLE_STORE and MESHSTREAM_STANDBY_REPLICAS reach the Faust app."""
from __future__ import annotations

import pytest

from streams.worker.app import create_app, table_store_url
from streams.core.settings import Settings


def test_rocksdb_store_and_standby_replicas(tmp_path):
    settings = Settings.from_env({"MESHSTREAM_TABLE_STORE": "RocksDB", "MESHSTREAM_STANDBY_REPLICAS": "1",
                                  "MESHSTREAM_TABLE_DIR": str(tmp_path / "a" / "b")})
    app, _ = create_app(settings)
    assert str(app.conf.store) == "rocksdb:" and app.conf.table_standby_replicas == 1
    assert str(app.conf.datadir) == str(tmp_path / "a" / "b") and (tmp_path / "a" / "b").is_dir()
    import rocksdict  # noqa: F401 - the driver Faust picks for rocksdb:// must be installed


def test_memory_is_the_default_and_unknown_stores_fail_loudly():
    assert table_store_url(Settings.from_env({"MESHSTREAM_TABLE_STORE": ""})) == "memory://"
    with pytest.raises(ValueError, match="expected one of"):
        table_store_url(Settings.from_env({"MESHSTREAM_TABLE_STORE": "redis"}))
