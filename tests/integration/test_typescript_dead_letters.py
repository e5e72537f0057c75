"""The TypeScript subscriber dead-letters what it cannot decode (issue 22), as the Python workers
do: with `deadLetter`, each record that is not an event of its contract becomes a
`pipeline.dead-lettered` event with its original bytes, position and reason, under the
subscriber's stage name, and `meshstream replay dead-letters` (Python) reads it like any other."""
from __future__ import annotations

import uuid

import pytest

from registry.manifest import default_manifest
from streams.client.replay import read_dead_letters
from tests import tsclient
from tests.integration.helpers import scan_behind_poison

pytestmark = pytest.mark.integration


def test_ts_subscriber_dead_letters_undecodable_records(settings, stack_env, worker):
    scan_id, poison = scan_behind_poison(settings, "ts-dead-letter")
    topic = default_manifest().by_name("discovery-scan.requested").topic
    stage = f"node-test-{uuid.uuid4().hex[:6]}"
    read = tsclient.run("read", {"contracts": ["discovery-scan.requested"], "scanId": scan_id, "expected": 1,
                                 "timeoutMs": 30_000, "deadLetter": stage}, env=stack_env, timeout=120)
    assert len(read["events"]) == 1  # the event behind the poison is still delivered
    ours = {}
    for d in read_dead_letters(settings):
        if d.stage == stage and d.original_topic == topic:
            # the reader starts at the beginning, so other tests' poison on other partitions is
            # dead-lettered too, at offsets that can equal ours: only (partition, offset) is a place
            ours[(d.original_partition, d.original_offset)] = d
    assert set(poison) <= set(ours), (poison, sorted(ours))
    first, second = (ours[at] for at in poison)
    assert (first.code, second.code) == ("malformed_event", "unknown_schema_id")
    assert first.original_value == b"not avro at all" and first.original_key == scan_id.encode()
