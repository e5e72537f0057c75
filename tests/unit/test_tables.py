"""The run table's changelog partition is the run key's partition on every run-keyed topic,
computed without the producer's metadata (streams/tables.py)."""
from __future__ import annotations

import faust
from aiokafka.partitioner import DefaultPartitioner

from streams.tables import KeyPartitionedTable, key_partition

KEYS = [f"run-{i:04d}".encode() for i in range(200)] + [b"", b"\xff" * 33]


def test_key_partition_is_kafkas_default_partitioner():
    for partitions in (1, 4, 7, 12):
        every = list(range(partitions))
        assert [key_partition(k, partitions) for k in KEYS] == [DefaultPartitioner()(k, every, every) for k in KEYS]


def test_the_table_needs_no_producer_metadata_for_a_partition():
    app = faust.App("tables-test", broker="kafka://127.0.0.1:1", autodiscover=False, Table=KeyPartitionedTable)
    table = app.Table("runs", default=None, partitions=4, key_type=bytes, value_type=None, use_partitioner=True)
    assert isinstance(table, KeyPartitionedTable)
    assert [table.partition_for_key(k) for k in KEYS] == [key_partition(k, 4) for k in KEYS]
    assert len({table.partition_for_key(k) for k in KEYS}) == 4  # the keys spread over every partition
