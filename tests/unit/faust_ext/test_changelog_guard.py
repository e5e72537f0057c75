"""A table's changelog write the producer gave up on ends the worker before the inputs behind it
are committed (streams/faust_ext/changelog_guard.py): otherwise the table keeps a state its
changelog never received and the partition's next owner silently loses those runs."""
from __future__ import annotations

import asyncio
import functools

from aiokafka import TopicPartition
from aiokafka.errors import KafkaTimeoutError, NotLeaderForPartitionError
from faust.types.tuples import FutureMessage, PendingMessage

from registry.manifest import default_manifest
from streams.core import names
from streams.core.settings import Settings
from streams.faust_ext.changelog_guard import CHANGELOG_LOST_EXIT, ChangelogGuard
from streams.worker.app import create_app


def guarded_app(tmp_path, events: list | None = None):
    """The worker app, its guard's exit recorded instead of made (in `exits`, and as "exit" in
    `events`)."""
    app, _ = create_app(Settings.from_env({"MESHSTREAM_DATA_DIR": str(tmp_path)}), stages={"orchestrator"})
    guard = next(s for s in app.sensors if isinstance(s, ChangelogGuard))
    exits: list[int] = []

    def exit_(code):
        exits.append(code)
        if events is not None:
            events.append("exit")

    guard._exit = exit_
    changelog = next(iter(app.tables.values())).changelog_topic.get_topic_name()
    return app, exits, changelog


def test_a_lost_changelog_write_exits_and_a_lost_agent_send_does_not(tmp_path):
    app, exits, changelog = guarded_app(tmp_path)
    assert changelog.endswith("-changelog")
    # an agent's send: its agent awaits it and retries (streams/core/policy.py)
    completed = default_manifest().by_name(names.COMPLETED).topic
    state = app.sensors.on_send_initiated(None, completed, None, 1, 1)
    app.sensors.on_send_error(None, NotLeaderForPartitionError(), state)
    assert exits == []
    state = app.sensors.on_send_initiated(None, changelog, None, 1, 1)
    app.sensors.on_send_error(None, KafkaTimeoutError(), state)
    assert exits == [CHANGELOG_LOST_EXIT]


def test_a_stop_that_abandoned_its_flush_does_not_exit(tmp_path):
    app, exits, changelog = guarded_app(tmp_path)
    app._stopped.set()
    state = app.sensors.on_send_initiated(None, changelog, None, 1, 1)
    app.sensors.on_send_error(None, KafkaTimeoutError(), state)
    assert exits == []


def test_the_guard_exits_before_a_flush_waiting_on_the_same_batch_returns(tmp_path):
    """The order the module relies on, with aiokafka's accumulator and Faust's own send callback:
    Faust registers `Topic._on_published` on the record's future when it sends it; a commit's
    flush starts waiting on the batch later; when the batch fails, the guard (called from
    `_on_published`) must run before the flush returns to the commit."""
    events: list[str] = []
    app, exits, changelog = guarded_app(tmp_path, events)
    topic = app.topic(changelog)

    async def scenario():
        producer = app.producer._new_producer()   # not started: nothing is sent anywhere
        try:
            tp = TopicPartition(changelog, 0)
            record = await producer._message_accumulator.add_message(tp, b"k", b"v", timeout=1.0)
            message = FutureMessage(PendingMessage(topic, b"k", b"v", 0, None, None, None, None, None))
            state = app.sensors.on_send_initiated(producer, changelog, message.message, 1, 1)
            record.add_done_callback(functools.partial(topic._on_published, message=message,
                                                       producer=producer, state=state))

            async def commit():
                await producer._message_accumulator.flush()
                events.append("commit")

            committing = asyncio.ensure_future(commit())
            await asyncio.sleep(0)                 # the flush now waits on the batch
            batch = producer._message_accumulator._batches[tp][0]
            batch.failure(KafkaTimeoutError("expired"))
            await asyncio.wait_for(committing, 5)
            message.exception()                    # retrieved: Faust's own warning is enough
        finally:
            await producer.stop()

    asyncio.run(scenario())
    assert exits == [CHANGELOG_LOST_EXIT]
    assert events == ["exit", "commit"]  # a real exit would have ended the process here
