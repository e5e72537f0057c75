"""A table's changelog write that the producer gave up on ends the worker at once.

Why: Faust sends a table's changelog record without waiting and, when the producer fails it
(after DELIVERY_TIMEOUT, streams/faust_ext/transport.py, or at once for an error no retry mends),
only logs a warning. The table in memory then holds a state its changelog never received, and
the next commit of the input offsets makes that permanent: the partition's next owner restores
the older state and never reads the inputs that made the newer one (their runs would stall or
be forgotten). Exiting before that commit leaves those inputs uncommitted, so whoever owns the
partition next (this worker restarted, or another) restores from the changelog and reads them
again: the same recovery as after any crash, which every stage is built to survive.

Before the commit: Faust reports a failed send to its sensors inside the callback of the
record's future (`Topic._on_published`), and that callback was registered when the record was
sent, before the commit's flush started waiting on the same batch; asyncio runs them in that
order, so the flush cannot return (and the commit cannot start) before this guard has exited.
"""
from __future__ import annotations

import logging
import os

from faust.sensors import Sensor

from streams.faust_ext.changelogs import tables_by_changelog

log = logging.getLogger("meshstream")

# The worker's exit status when a changelog write was lost (EX_TEMPFAIL: restart it)
CHANGELOG_LOST_EXIT = 75


def exit_now(code: int) -> None:
    """End the process without unwinding: no stop, so no commit (the log is flushed first)."""
    logging.shutdown()
    os._exit(code)


class ChangelogGuard(Sensor):
    """The sensor that exits the worker when a changelog write fails (see the module docstring)."""

    def __init__(self, app, exit=exit_now, **kwargs):
        super().__init__(**kwargs)
        self.app = app
        self._exit = exit
        self._changelogs: frozenset[str] | None = None

    def changelog_topics(self) -> frozenset[str]:
        """Every table's changelog topic (the tables are all defined before the first send)."""
        if self._changelogs is None:
            self._changelogs = frozenset(tables_by_changelog(self.app))
        return self._changelogs

    def on_send_initiated(self, producer, topic, message, keysize, valsize):
        return topic if topic in self.changelog_topics() else None

    def on_send_error(self, producer, exc, state) -> None:
        if state is None:
            return  # not a changelog: an agent's send, whose agent sees the error and retries
        if self.app.should_stop:
            # a stop that gave up its flush (the broker unreachable) commits nothing after it
            log.error("changelog write to %s lost while stopping: %r", state, exc)
            return
        log.critical("changelog write to %s lost (%r): exiting before its inputs are committed, so they "
                     "are read again after the table is restored from its changelog", state, exc)
        self._exit(CHANGELOG_LOST_EXIT)
