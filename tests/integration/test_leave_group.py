"""A member stopped while its group rebalances leaves at once (streams/faust_ext/transport.py
`leave_group_now`, issue 18).

Found with workers joining and leaving every 5 s: a worker told to stop during a rebalance
never sent LeaveGroup (aiokafka's close first waits for the JoinGroup answer, which the broker
holds until every member has joined), so the group waited for its session to expire while new
members kept joining; the pipeline stood still for 34 s. Here, on the real broker: member
`slow` holds a rebalance open (its revoke callback takes 20 s, as a busy worker's can), member
`leaving` joins and is stopped mid-join. With `leave_group_now` the broker drops it at once;
without it, it stays a member until its session times out (30 s here).
"""
from __future__ import annotations

import asyncio
import time
import uuid

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener
from confluent_kafka.admin import AdminClient, NewTopic

from streams.faust_ext.transport import leave_group_now

pytestmark = pytest.mark.integration

SESSION_MS = 30_000


class _SlowRevoke(ConsumerRebalanceListener):
    def __init__(self, seconds: float):
        self.seconds = seconds

    async def on_partitions_revoked(self, revoked):
        if revoked:
            await asyncio.sleep(self.seconds)

    async def on_partitions_assigned(self, assigned):
        pass


def _members(admin: AdminClient, group: str) -> set[str]:
    description = admin.describe_consumer_groups([group])[group].result(timeout=10)
    return {m.member_id for m in description.members}


def _consumer(bootstrap: str, group: str) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group, session_timeout_ms=SESSION_MS,
                            heartbeat_interval_ms=1000, rebalance_timeout_ms=60_000, enable_auto_commit=False)


async def _scenario(bootstrap: str, admin: AdminClient, topic: str, leave: bool) -> float:
    """Seconds from stopping `leaving` mid-rebalance until the broker no longer lists it."""
    group = f"leave-{uuid.uuid4().hex[:8]}"
    slow = _consumer(bootstrap, group)
    slow.subscribe([topic], listener=_SlowRevoke(20.0))
    await slow.start()
    await slow.getmany(timeout_ms=3000)  # joined, partitions assigned
    assert slow.assignment(), "the first member got the partitions"
    leaving = _consumer(bootstrap, group)
    leaving.subscribe([topic])
    starting = asyncio.ensure_future(leaving.start())  # returns once it has joined: not before 20 s
    pump = asyncio.ensure_future(slow.getmany(timeout_ms=25_000))  # slow takes part in the rebalance
    try:
        deadline = time.monotonic() + 15
        while not getattr(leaving._coordinator, "member_id", None) and time.monotonic() < deadline:
            await asyncio.sleep(0.1)  # its first JoinGroup came back with a member id: it is joining
        member = leaving._coordinator.member_id
        await asyncio.sleep(1.0)
        assert member in _members(admin, group), "the joining member is in the group"
        assert not leaving.assignment(), "the rebalance is still held open by the slow member"
        t0 = time.monotonic()
        if leave:
            assert await leave_group_now(leaving)
        stop = asyncio.ensure_future(leaving.stop())
        while member in _members(admin, group) and time.monotonic() - t0 < SESSION_MS / 1000 + 15:
            await asyncio.sleep(0.2)
        gone = time.monotonic() - t0
        stop.cancel()
        return gone
    finally:
        for task in (pump, starting):
            task.cancel()
        await asyncio.gather(pump, starting, return_exceptions=True)
        await slow.stop()


def test_a_member_stopped_mid_rebalance_leaves_the_group_at_once(settings):
    bootstrap = settings.kafka_bootstrap
    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = f"leave-group-{uuid.uuid4().hex[:6]}"
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])[topic].result(timeout=30)
    gone = asyncio.run(_scenario(bootstrap, admin, topic, leave=True))
    print(f"a member stopped mid-rebalance left the group after {gone:.1f} s (session timeout {SESSION_MS / 1000:.0f} s)")
    assert gone < 5.0, gone
