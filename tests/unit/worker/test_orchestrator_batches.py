"""The orchestrator takes every event already received at once (ADR 0007): the real handlers, in memory."""
from __future__ import annotations

import asyncio
import pytest
from types import SimpleNamespace

from streams.core.envelope import envelope
from tests.fakes.pipeline import (
    FakeRuntime,
    MANIFEST,
    wf,
)


def test_stage_agents_run_concurrently_and_the_orchestrator_takes_batches():
    """Stages are stateless: several requests at once. The orchestrator takes every event already
    received at once (tests below): its sends then share one produce request."""
    from streams.execution.catalog import processing_stages

    rt = FakeRuntime([], {})
    assert set(rt.batch_handlers) == {"orchestrator"} and rt.settings.orchestrator_batch > 1
    for stage in processing_stages(MANIFEST):
        assert rt.app.agent_options[stage]["concurrency"] > 1, stage


def _discovered(run_id: str):
    files = [{"storage": "default", "bucket": "models", "key": f"{run_id}/cube.stl", "etag": "e", "size_bytes": 1}]
    payload = {"run_id": run_id, "model_id": f"m-{run_id}", "scan_id": "s", "workflow": "minimal", "name": "cube",
               "folder": run_id, "files": files, "owner_id": "o", "collection_id": None, "options": None}
    return MANIFEST.by_name("discovery.discovered"), {"envelope": envelope("test", run_id), "payload": payload}


def _download_done(run_id: str):
    payload = {"run_id": run_id, "model_id": f"m-{run_id}", "files": []}
    env = envelope("download", run_id, event_id=f"done-{run_id}")
    return MANIFEST.by_name("download.completed"), {"envelope": env, "payload": payload}


def _batch(*events):
    return [(contract, record, SimpleNamespace(partition=0)) for contract, record in events]


def _table_writes(rt) -> list[bytes]:
    table, _ = rt.app.tables["workflow-runs"]
    return table.writes


def test_a_batch_applies_one_runs_events_in_order_and_sends_everything_before_awaiting_acks():
    """Run A's discovery and its download outcome in one batch: the outcome applies to the state
    the discovery made (not to the table's, which has no run A yet); every record of the batch is
    handed to the producer before any ack is awaited; each run's last state is stored once,
    after all acks."""
    rt = FakeRuntime([], {})
    orch = rt.orchestrator
    sent: list[tuple[str, str]] = []
    acks: list[asyncio.Future] = []

    async def send_encoded_soon(name, key, value):
        assert not any(a.done() for a in acks)  # nothing acked while the batch is still sending
        sent.append((name, key))
        acks.append(asyncio.get_running_loop().create_future())
        return acks[-1]

    rt.send_encoded_soon = send_encoded_soon

    async def scenario():
        handled = asyncio.create_task(orch.handle_batch(rt, _batch(_discovered("run-a"), _download_done("run-a"),
                                                                   _discovered("run-b"))))
        for _ in range(500):  # until the batch waits for its acks (a busy machine may take a while)
            if len(sent) >= 4:
                break
            await asyncio.sleep(0.01)
        # run A's events in order (its download answered, then its two next steps), then run B
        assert sent[0] == ("download.requested", "run-a") and sent[3] == ("download.requested", "run-b")
        assert set(sent[1:3]) == {("technical-metadata.requested", "run-a"), ("thumbnails.requested", "run-a")}
        assert _table_writes(rt) == []  # no state before its effects are acked
        for ack in acks:
            ack.set_result(None)
        await handled
        assert _table_writes(rt) == [b"run-a", b"run-b"]
        run_a = wf.RunState.from_dict(orch.runs.get(b"run-a"))
        assert run_a.steps["download"].status == wf.COMPLETED

    asyncio.run(asyncio.wait_for(scenario(), 10))


def test_a_batch_whose_send_fails_stores_nothing_and_raises_for_the_runtime_to_retry():
    rt = FakeRuntime([], {})

    async def send_encoded_soon(name, key, value):
        failed = asyncio.get_running_loop().create_future()
        failed.set_exception(ConnectionError("broker away"))
        return failed

    rt.send_encoded_soon = send_encoded_soon
    with pytest.raises(ConnectionError):
        asyncio.run(rt.orchestrator.handle_batch(rt, _batch(_discovered("run-a"), _discovered("run-b"))))
    assert _table_writes(rt) == []


def test_a_batch_with_a_failing_transition_sends_nothing():
    """Transitions and encoding come before any send: an event the state machine cannot take
    (here a discovery without its file list, which no request can be built from) stops the batch
    before anything leaves, and the runtime then handles the batch one event at a time (so only
    that event is dead-lettered)."""
    rt = FakeRuntime([], {})
    bad_contract, bad = _discovered("run-bad")
    bad["payload"]["files"] = None
    with pytest.raises(Exception):
        asyncio.run(rt.orchestrator.handle_batch(rt, _batch(_discovered("run-a"), (bad_contract, bad))))
    assert rt.queue == [] and _table_writes(rt) == []
