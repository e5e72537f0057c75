"""The lean monitor (streams/faust_ext/monitor.py) pinned against the locked Faust: the sampler it
replaces is a task of Faust's Monitor service, and what Faust reads back (stream_inbound_time,
in its aiokafka driver's slow-stream diagnostics) is still kept."""
from __future__ import annotations

import inspect

from faust.sensors import Monitor
from faust.transport.drivers import aiokafka as driver

from streams.faust_ext.monitor import LeanMonitor


def test_faust_still_runs_its_rate_sampler_as_a_service_task_that_the_lean_monitor_replaces():
    source = inspect.getsource(Monitor)
    assert "@Service.task\n    async def _sampler(self)" in source
    assert LeanMonitor._sampler is not Monitor._sampler


def test_the_lean_monitor_keeps_the_inbound_time_faust_reads_and_nothing_else():
    assert ".stream_inbound_time" in inspect.getsource(driver)  # what Faust itself reads back
    monitor = LeanMonitor()
    monitor.on_stream_event_in("tp", 1, None, None)
    monitor.on_message_in("tp", 1, None)
    assert set(monitor.stream_inbound_time) == {"tp"}
    assert not monitor.messages_received_by_topic
