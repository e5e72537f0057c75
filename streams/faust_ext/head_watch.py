"""Commit a partition only from its head: the record at the committed offset must be done first.

Why: Faust drops records it has already fetched in several places around a rebalance and counts
on the seek to the committed offsets to read them again. One of those drops comes *after* that
seek: when table recovery ends, Faust seeks the stream partitions, which are already fetching,
and then resumes the flow, which clears every stream buffer (mode's `FlowControlEvent.resume`);
records fetched in between are gone, and nothing reads them again. Faust's commit rule then
stepped over them: its head check tolerates one missing record, and its gap bookkeeping took the
jump from the seek offset to the next record it saw for offsets missing from the log, which
counted as done. Found with per-record logs of the churn test (issue 18): requests 133 and 134
of `technical-metadata.requested[0]` fetched at 24.93 s, cleared at 24.97 s, committed past at
27.68 s, never started until the queue timeout requested them again a minute later.

That drop no longer happens (streams/faust_ext/flow.py keeps the stream buffers on that resume);
the rule stays for every other way a record can be dropped before processing (a rebalance's
buffer clear, the stream's skips, the drain loop's read-offset filter), each of which relies on
a seek that a later commit must not overtake.

The rule here: a partition commits only once its head was acked (then Faust's consecutive run
from it is safe); a head missing while later records were acked was dropped, and after
`grace` seconds the partition is read again from it (`Rewind`). A head below the log's first
offset (retention deleted it) is not a record any more: the caller skips to the log start.
The workers consume no transactional or compacted topics, so no other offsets are missing
from their logs, and Faust's gap inference is not needed (the worker's consumer turns it off).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Hashable


@dataclass(frozen=True)
class Rewind:
    """Read `tp` again from `offset`, its head, which was dropped before it was processed."""
    tp: Hashable
    offset: int


COMMIT, WAIT = "commit", "wait"


class HeadWatch:
    """Which partitions may commit now, which must wait, and which to read again.

    A partition's head is known only after the seek that follows its assignment (`confirm`);
    until then nothing of it is committed (acks of records taken before the rebalance would
    otherwise move a commit the new position has not confirmed)."""

    def __init__(self, grace: float = 5.0, clock: Callable[[], float] = time.monotonic):
        self.grace, self.clock = grace, clock
        self._confirmed: set = set()
        self._missing: dict = {}  # tp -> (head, since when it has been seen missing)

    def confirm(self, tps) -> None:
        """The partitions were just sought to their committed offsets (their heads)."""
        self._confirmed.update(tps)

    def forget(self, tps) -> None:
        """The partitions were revoked: their heads are unknown until the next seek."""
        for tp in tps:
            self._confirmed.discard(tp)
            self._missing.pop(tp, None)

    def verdict(self, tp, head: int | None, lowest_acked: int):
        """COMMIT (Faust's rule may run), WAIT, or a `Rewind`, for a partition with acks.

        `head` is the committed offset, the next record to process (None: not known here);
        `lowest_acked` the lowest offset acked and not yet committed."""
        if tp not in self._confirmed or head is None:
            return WAIT
        if lowest_acked <= head:
            self._missing.pop(tp, None)
            return COMMIT
        now = self.clock()
        seen_head, since = self._missing.get(tp, (None, now))
        if seen_head != head:
            self._missing[tp] = (head, now)
            return WAIT
        if now - since < self.grace:
            return WAIT
        self._missing[tp] = (head, now)  # the next rewind only after another grace period
        return Rewind(tp, head)
