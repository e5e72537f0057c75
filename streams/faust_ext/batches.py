"""Events a Faust stream has already received, handed over in batches.

Why: an agent that handles one event at a time pays Faust's and aiokafka's per-event round trip
for each: its sends leave in a produce request of their own and it waits for that ack before
the next event. The orchestrator's events need only microseconds of its own work each, so
that machinery was most of its CPU. Handling every event already waiting in the stream's queue
together lets one produce request and one ack wait serve them all (group commit), while a
lone event is still handled the moment it arrives: nothing waits for a batch to fill.

The stream is Faust's as it is (its acks, its rebalance handling); this module only decides
how many of the queued events to take before handing them over.
"""
from __future__ import annotations

from typing import AsyncIterator

from faust.types import EventT


def next_is_deliverable(stream) -> bool:
    """Whether the stream's next event is already queued and will be yielded, not skipped.

    Faust's stream iterator drops a queued event of an older consumer generation (or while flow
    control is suspended, mid-rebalance) and then waits for the next one; pulling it with a
    batch in hand could then hold that batch until new records arrive. So only an event the
    iterator will yield at once counts (the same test as faust.Stream's iterator)."""
    queue = stream.channel.queue
    if queue.empty():
        return False
    head = queue._queue[0]  # asyncio.Queue's deque: the next item get_nowait() returns
    app = stream.app
    return (isinstance(head, EventT) and app.flow_control.is_active()
            and head.message.generation_id == app.consumer_generation_id)


async def ready_batches(stream, max_batch: int) -> AsyncIterator[list]:
    """Lists of events from `stream` (a no-ack stream; the caller acks): the next event when it
    arrives, with every event already queued behind it, up to `max_batch`."""
    events = stream.events().__aiter__()
    while True:
        try:
            batch = [await events.__anext__()]
        except StopAsyncIteration:
            return
        while len(batch) < max_batch and next_is_deliverable(stream):
            try:
                batch.append(await events.__anext__())
            except StopAsyncIteration:  # the stream stopped (a worker shutting down) mid-batch
                yield batch
                return
        yield batch
