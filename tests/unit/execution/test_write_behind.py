"""Reuse records are written behind a step's answer: the step does not wait for the PUT, a
failed write is logged and never fails the step, and a backlog is bounded (the caller then
writes itself)."""
from __future__ import annotations

import logging
import threading

from streams.execution.background_io import WriteBehind


def test_the_caller_does_not_wait_and_the_write_lands_later():
    gate, landed = threading.Event(), []
    behind = WriteBehind()
    behind.submit(lambda key: (gate.wait(5), landed.append(key)), "results/x.json")
    assert landed == []  # submit returned while the write is still held
    gate.set()
    assert behind.flush() and landed == ["results/x.json"]


def test_writes_land_in_the_order_given():
    landed = []
    behind = WriteBehind()
    for i in range(20):
        behind.submit(landed.append, i)
    assert behind.flush() and landed == list(range(20))


def test_a_failed_write_is_logged_not_raised(caplog):
    def refused(key):
        raise ConnectionRefusedError(f"put {key}: connection refused")

    behind = WriteBehind()
    with caplog.at_level(logging.WARNING, logger="meshstream"):
        behind.submit(refused, "results/y.json")
        behind.submit(lambda: None)
        assert behind.flush()
    assert "results/y.json" in caplog.text and "works afresh" in caplog.text


def test_a_full_backlog_is_written_by_the_caller():
    gate, callers = threading.Event(), []
    behind = WriteBehind(depth=2)
    behind.submit(gate.wait, 5)  # holds the thread
    for i in range(4):           # two wait in the queue; the others are written here
        behind.submit(lambda i=i: callers.append((i, threading.current_thread())))
    here = [i for i, t in callers if t is threading.current_thread()]
    assert len(here) >= 1
    gate.set()
    assert behind.flush() and sorted(i for i, _ in callers) == [0, 1, 2, 3]
