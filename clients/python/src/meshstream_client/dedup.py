"""A bounded memory of event ids, for dropping repeated deliveries.

At-least-once delivery means an event can arrive twice: a stage or the orchestrator re-emits it
(with the same deterministic event id) after a restart, or this subscriber's group re-reads
records after a rebalance. Remembering every id would grow without bound in a long-lived
service, so the memory keeps the most recent `size` ids (least recently seen forgotten first):
a repeat further back than that is delivered again, which at-least-once allows.
"""
from __future__ import annotations

from collections import OrderedDict

DEFAULT_SIZE = 100_000  # ~10 MB of ids; repeats come within seconds to minutes of the original


class SeenIds:
    def __init__(self, size: int = DEFAULT_SIZE):
        if size < 1:
            raise ValueError("the duplicate memory needs room for at least one id")
        self.size = size
        self._ids: OrderedDict[str, None] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        """True the first time `event_id` is offered (within the memory); remembers it."""
        if event_id in self._ids:
            self._ids.move_to_end(event_id)
            return False
        self._ids[event_id] = None
        if len(self._ids) > self.size:
            self._ids.popitem(last=False)
        return True

    def __len__(self) -> int:
        return len(self._ids)
