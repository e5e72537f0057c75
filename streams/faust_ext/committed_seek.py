"""Seek to the committed offsets, including partitions that have none: the rewind Faust relies on.

Why this exists: Faust drops records it has already taken from aiokafka whenever a rebalance
starts underneath them (flow stopped, generation changed, partition paused for table recovery;
also a fetch whose caller was cancelled when the fetcher restarted) and relies on "seek to the
committed offsets" when the flow resumes to read them again. aiokafka's `seek_to_committed`
only moves partitions whose committed offset is greater than zero. A partition that has never
been committed (a new group, a new topic, the first records of a scan) therefore keeps the
position past the dropped records, and they are never processed: issue 8's start-up test caught
a worker that owned `discovered[2]` with position 1, nothing committed and the event never
handled (cf. faust-streaming/faust#629). Kafka's rule for a partition without a committed offset
is the reset policy, so that is where it goes back to: earliest for our workers.

Rewinding re-delivers records of that partition that were processed but not yet committed, as a
rewind to a committed offset does for the others; the workflow is idempotent for that (a step
outcome is applied once, a second discovery of a model is ignored).
"""
from __future__ import annotations

from typing import Mapping


async def seek_to_committed_or_reset(consumer, reset_policy: str) -> Mapping:
    """Move every assigned partition to its committed offset, or by `reset_policy` if it has none.

    `consumer` is the aiokafka consumer (called on its own event loop). Returns the committed
    offsets as aiokafka reports them (None where there is none), like `seek_to_committed`.
    """
    committed = await consumer.seek_to_committed()
    at_zero = [tp for tp, offset in committed.items() if offset == 0]
    uncommitted = [tp for tp, offset in committed.items() if offset is None or offset < 0]
    if reset_policy == "earliest":
        # offset 0 without asking the broker: a ListOffsets request waits behind the fetch
        # long-poll on the same connection (up to 1.5 s per rebalance); where the log no longer
        # starts at 0 the fetch answers out of range and aiokafka resets to the earliest offset
        at_zero += uncommitted
    elif reset_policy == "latest" and uncommitted:
        for tp, offset in (await consumer.end_offsets(uncommitted)).items():
            consumer.seek(tp, offset)
    for tp in at_zero:  # committed 0 means nothing done yet: aiokafka skips it
        consumer.seek(tp, 0)
    return committed
