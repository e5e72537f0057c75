"""Batches of already-received events (streams/faust_ext/batches.py) and the runtime's policy for a batch
(Runtime.process_batch).

The batch tests run a real Faust stream over an in-memory channel (no broker is contacted): the
batching reads Faust's stream queue, so it is tested against Faust's own, not a copy of it.
"""
from __future__ import annotations

import asyncio
from types import SimpleNamespace

import faust
import pytest

from registry.manifest import default_manifest
from registry.serde import DecodeError, RegistryUnavailableError
from streams.faust_ext.batches import next_is_deliverable, ready_batches
from streams.worker.runtime import Runtime
from streams.core.settings import Settings

MANIFEST = default_manifest()


async def _stream_with(values):
    app = faust.App("test-batches", broker="kafka://127.0.0.1:1", store="memory://")
    app.flow_control.resume()  # what the worker does once partitions are assigned
    channel = app.channel()
    stream = app.stream(channel).noack()  # before sending: the stream reads a clone of the channel
    for value in values:
        await channel.send(value=value)
    return app, channel, stream


def _run(coro):
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_everything_already_received_comes_in_one_batch_up_to_the_maximum():
    async def scenario():
        _, channel, stream = await _stream_with(range(5))
        batches = ready_batches(stream, 3)
        assert [e.value for e in await batches.__anext__()] == [0, 1, 2]
        assert [e.value for e in await batches.__anext__()] == [3, 4]
        await channel.send(value=5)  # a lone event is handed over at once, not held for company
        assert [e.value for e in await batches.__anext__()] == [5]
    _run(scenario())


def test_a_queued_event_the_stream_would_skip_is_not_pulled_into_a_batch():
    """Faust's iterator drops an event of an older consumer generation and waits for the next;
    pulling it with a batch in hand would hold the batch until new records arrive."""
    async def scenario():
        app, _, stream = await _stream_with(["current", "stale"])
        stream.channel.queue._queue[1].message.generation_id = app.consumer_generation_id - 1
        batches = ready_batches(stream, 10)
        assert [e.value for e in await batches.__anext__()] == ["current"]
        assert not next_is_deliverable(stream)
    _run(scenario())


def test_a_stream_that_stops_mid_batch_hands_over_what_it_took_and_ends():
    """A worker stopping while events are queued: the stream ends between two pulls of one
    batch. The batch taken so far is handed over and the batches end; the StopAsyncIteration
    escaped the generator as a RuntimeError before, crashing the orchestrator agent mid-shutdown
    (Faust's supervisor then restarted it, and the stop took 10 s with the worker's partitions
    still assigned to it: the churn test's pause)."""
    async def scenario():
        _, _, stream = await _stream_with(["first", "second"])

        def stop_after_this_event(value):
            stream._stopped.set()  # what stopping the worker does to its agents' streams
            return value
        stream.add_processor(stop_after_this_event)
        batches = ready_batches(stream, 10)
        assert [e.value for e in await batches.__anext__()] == ["first"]
        with pytest.raises(StopAsyncIteration):
            await batches.__anext__()
    _run(scenario())


def test_nothing_is_deliverable_while_flow_control_is_suspended():
    async def scenario():
        app, _, stream = await _stream_with(["a"])
        assert next_is_deliverable(stream)
        app.flow_control.suspend()  # mid-rebalance
        assert not next_is_deliverable(stream)
    _run(scenario())


# -- Runtime.process_batch ------------------------------------------------------------------

class ScriptedSerde:
    """Decodes a record's bytes to a dict, or raises what the bytes name."""

    def __init__(self):
        self.unavailable = 0  # the registry is away for this many decodes

    def decode(self, value: bytes, contract):
        if value == b"poison":
            raise DecodeError("not Avro")
        if self.unavailable:
            self.unavailable -= 1
            raise RegistryUnavailableError("registry away")
        return {"value": value.decode()}


def _runtime(retry_seconds: float = 60.0):
    rt = Runtime(SimpleNamespace(), Settings.from_env({"MESHSTREAM_TRANSIENT_RETRY_SECONDS": str(retry_seconds)}),
                 MANIFEST, ScriptedSerde())
    rt.dead_letters = []

    async def dead_letter(event, stage, code, exc, retryable=False, attempts=1):
        rt.dead_letters.append((event.message.value, code, retryable))
    rt.dead_letter = dead_letter
    return rt


def _events(*values: bytes):
    topic = MANIFEST.by_name("download.completed").topic
    return [SimpleNamespace(message=SimpleNamespace(topic=topic, partition=0, offset=i, key=b"k", value=v))
            for i, v in enumerate(values)]


def test_a_poison_event_in_a_batch_is_dead_lettered_alone_and_the_others_are_handled():
    rt, handled = _runtime(), []

    async def handle_batch(_, items):
        handled.append([record["value"] for _, record, _ in items])

    _run(rt.process_batch(_events(b"a", b"poison", b"b"), "orchestrator", handle_batch))
    assert handled == [["a"], ["b"]]  # the batch failed to decode; then one event at a time
    assert rt.dead_letters == [(b"poison", "malformed_event", False)]


def test_a_failing_handler_sends_the_batch_through_one_event_at_a_time():
    rt, handled = _runtime(), []

    async def handle_batch(_, items):
        values = [record["value"] for _, record, _ in items]
        if "bug" in values:
            raise RuntimeError("a bug in one event's transition")
        handled.append(values)

    _run(rt.process_batch(_events(b"a", b"bug", b"b"), "orchestrator", handle_batch))
    assert handled == [["a"], ["b"]]
    assert rt.dead_letters == [(b"bug", "internal_error", False)]


def test_a_transient_failure_retries_the_whole_batch_in_place():
    rt, handled = _runtime(), []
    rt.serde.unavailable = 1

    async def handle_batch(_, items):
        handled.append([record["value"] for _, record, _ in items])

    _run(rt.process_batch(_events(b"a", b"b"), "orchestrator", handle_batch))
    assert handled == [["a", "b"]] and rt.dead_letters == []


def test_a_transient_failure_past_the_retry_window_dead_letters_every_event_as_retryable():
    rt = _runtime(retry_seconds=0.0)

    async def handle_batch(_, items):
        raise ConnectionError("broker away")

    _run(rt.process_batch(_events(b"a", b"b"), "orchestrator", handle_batch))
    assert rt.dead_letters == [(b"a", "unavailable", True), (b"b", "unavailable", True)]


@pytest.mark.parametrize("size", [1, 3])
def test_batches_reach_the_handler_with_contract_record_and_message(size):
    rt, seen = _runtime(), []

    async def handle_batch(_, items):
        seen.extend(items)

    events = _events(*(f"v{i}".encode() for i in range(size)))
    _run(rt.process_batch(events, "orchestrator", handle_batch))
    assert [(c.name, r, m) for c, r, m in seen] == [("download.completed", {"value": f"v{i}"}, e.message)
                                                 for i, e in enumerate(events)]
