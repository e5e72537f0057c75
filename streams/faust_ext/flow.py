"""Flow control that keeps the agents' stream buffers when the flow resumes.

Why: mode's `FlowControlEvent.resume` clears every managed buffer. A worker with tables ends a
rebalance by resuming the flow for changelog recovery, then resumes its stream partitions,
seeks them to their committed offsets and resumes the flow again (faust/tables/recovery.py
`on_recovery_completed`); records the stream partitions delivered between that seek and that
resume were cleared, and nothing read them again (the fetch position was past them). In the churn
test that stalled the pipeline for 8 s after rebalances: the dropped requests held admission
slots until the commit rule's rewind read them again (streams/faust_ext/head_watch.py, issue 18).

What a stream buffer holds when the flow resumes was delivered after the revocation cleared the
buffers (`App._on_partitions_revoked` clears them itself, and nothing is delivered while the
flow is suspended), so it belongs to the new assignment: a record delivered before the seek and
again after it is handled twice, which every stage tolerates (deterministic event ids). Other
buffers (the tables' changelog queue) are still cleared: a changelog record applied late could
put back an older state.
"""
from __future__ import annotations

from mode.utils.queues import FlowControlEvent


class StreamBuffersKept(FlowControlEvent):
    """`FlowControlEvent` whose `resume` clears every managed buffer but the agents' streams'."""

    def __init__(self, app, **kwargs):
        super().__init__(**kwargs)
        self._app = app

    def resume(self) -> None:
        self._suspend.clear()
        self._resume.set()
        streams = {id(queue) for queue in (getattr(channel, "_queue", None) for channel in self._app.topics._topics)
                   if queue is not None}
        for queue in list(self._queues):
            if id(queue) not in streams:
                queue.clear()
