"""The run table's changelog partition is the run key's partition on every run-keyed topic,
computed without the producer's metadata (streams/worker/tables.py)."""
from __future__ import annotations

import faust
from aiokafka.partitioner import DefaultPartitioner

from streams.worker.tables import KeyPartitionedTable, key_partition, key_partitioner

KEYS = [f"run-{i:04d}".encode() for i in range(200)] + [b"", b"\xff" * 33]


def test_key_partition_is_kafkas_default_partitioner():
    for partitions in (1, 4, 7, 12):
        every = list(range(partitions))
        assert [key_partition(k, partitions) for k in KEYS] == [DefaultPartitioner()(k, every, every) for k in KEYS]


def test_the_producers_partitioner_is_kafkas_default_partitioner_twice_over():
    """The workers' producer partitioner (hashes cached) puts every key where aiokafka's would,
    on the first call and on the cached ones, including when partitions are not 0..n-1."""
    for partitions in ([0, 1, 2, 3], [0, 1, 2, 3, 4, 5, 6], [3, 5, 8]):
        expected = [DefaultPartitioner()(k, partitions, partitions) for k in KEYS]
        assert [key_partitioner(k, partitions, partitions) for k in KEYS] == expected
        assert [key_partitioner(k, partitions, partitions) for k in KEYS] == expected
    assert all(key_partitioner(None, [0, 1, 2], [1]) == 1 for _ in range(20))  # null key: an available one


def test_the_table_needs_no_producer_metadata_for_a_partition():
    app = faust.App("tables-test", broker="kafka://127.0.0.1:1", autodiscover=False, Table=KeyPartitionedTable)
    table = app.Table("runs", default=None, partitions=4, key_type=bytes, value_type=None, use_partitioner=True)
    assert isinstance(table, KeyPartitionedTable)
    assert [table.partition_for_key(k) for k in KEYS] == [key_partition(k, 4) for k in KEYS]
    assert len({table.partition_for_key(k) for k in KEYS}) == 4  # the keys spread over every partition
