"""Faust's per-event statistics, reduced to what Faust itself reads back.

Why: every Faust app has a `Monitor` sensor that Faust calls on each record in, each stream event
in and out, each send, ack and table read or write. It keeps counters per topic, deques of
latencies and a sampler task that wakes every second, all for Faust's own stats pages, which
meshstream does not serve (its metrics are streams/worker/metrics.py, on /metrics). On the orchestrator,
whose work per record is a small state transition, that bookkeeping and the sampler's wake-ups
were a measurable part of its CPU per model (bench/pipeline.py, minimal workflow).

Kept: `stream_inbound_time`, which Faust's aiokafka driver reads to log a partition whose stream
stopped taking events (its slow-processing diagnostics).
"""
from __future__ import annotations

from time import monotonic

from faust.sensors import Monitor
from mode import Service


class LeanMonitor(Monitor):
    """A Monitor that records only the stream inbound time (see the module docstring)."""

    def on_stream_event_in(self, tp, offset, stream, event):
        self.stream_inbound_time[tp] = monotonic()
        return None

    def on_message_in(self, tp, offset, message) -> None:
        pass

    def on_stream_event_out(self, tp, offset, stream, event, state=None) -> None:
        pass

    def on_message_out(self, tp, offset, message) -> None:
        pass

    def on_send_initiated(self, producer, topic, message, keysize, valsize):
        return None

    def on_send_completed(self, producer, state, metadata) -> None:
        pass

    def on_table_get(self, table, key) -> None:
        pass

    def on_table_set(self, table, key, value) -> None:
        pass

    def on_table_del(self, table, key) -> None:
        pass

    def on_commit_initiated(self, consumer):
        return None

    def on_commit_completed(self, consumer, state) -> None:
        pass

    def on_tp_commit(self, tp_offsets) -> None:
        pass

    def track_tp_end_offset(self, tp, offset) -> None:
        pass

    @Service.task
    async def _sampler(self) -> None:
        """Faust's rate sampler feeds only its stats pages: not started."""
        return
