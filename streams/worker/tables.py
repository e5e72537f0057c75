"""Faust tables whose changelog partition is computed from the key, here, without the producer.

Why: the run table is written by the orchestrator agent and by its timers (retries, timeouts,
retention), and timers have no current event, so the changelog partition must come from the
key (`use_partitioner=True`). Faust then asks the producer to partition the key, which needs the
producer's metadata for the changelog topic; before the producer has ever sent to that topic the
metadata is missing and the write raises `TypeError: 'NoneType' object is not iterable` (seen: a
fresh orchestrator dead-lettered every discovery of a batch). Computing the partition with the
Kafka default partitioner (murmur2, as aiokafka and our confluent producers with
`murmur2_random` use) gives the same partition every run-keyed topic has, with no metadata.
"""
from __future__ import annotations

import functools
import random

import faust
from aiokafka.partitioner import murmur2


@functools.lru_cache(maxsize=16384)
def key_hash(key: bytes) -> int:
    """Kafka's default partitioner hash of a key (murmur2, positive). Cached: aiokafka's murmur2
    is pure Python, and a run's key is hashed for every record of the run (requests, terminal
    event, changelog writes: about eight per model on the orchestrator)."""
    return murmur2(key) & 0x7FFFFFFF


def key_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives a non-null key."""
    return key_hash(key) % partitions


def key_partitioner(key: bytes | None, all_partitions: list[int], available: list[int]) -> int:
    """The workers' producer partitioner (Faust's `producer_partitioner`): aiokafka's
    DefaultPartitioner with the key's hash cached; a null key goes to a random partition, as
    there."""
    if key is None:
        return random.choice(available or all_partitions)
    return all_partitions[key_hash(key) % len(all_partitions)]


class KeyPartitionedTable(faust.Table):
    """A table whose changelog records go to the key's partition (see the module docstring)."""

    def partition_for_key(self, key) -> int:
        if not isinstance(key, bytes):
            key = str(key).encode()
        return key_partition(key, self.partitions)
