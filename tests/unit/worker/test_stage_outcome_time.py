"""A stage's outcome event says when the step ended (its envelope's occurred_at), not when the
request was taken: the events' times are how the fairness and kill tests (and any consumer)
measure a step, and a completed event stamped at the request claimed a 20 s render took 0 s."""
from __future__ import annotations

import time

from tests.fakes.pipeline import OBJECTS, FakeRuntime, _events, _results

SECONDS = 0.3


def _slow_download():
    results = _results("minimal")
    fast = results["download"]

    def download(p):
        time.sleep(SECONDS)
        return fast(p)
    return {**results, "download": download}


def _ms(record: dict) -> float:
    return record["envelope"]["occurred_at"].timestamp() * 1000  # decoded as a timestamp-millis


def test_a_completed_event_is_stamped_when_the_step_ended():
    rt = FakeRuntime(OBJECTS, _slow_download())
    rt.run_scan("scan-outcome-time", "minimal")
    requested = {r["payload"]["run_id"]: _ms(r) for r in _events(rt, "download.requested")}
    completed = {r["payload"]["run_id"]: _ms(r) for r in _events(rt, "download.completed")}
    assert completed and set(completed) == set(requested)
    for run, at in completed.items():
        assert at - requested[run] >= SECONDS * 1000 - 5, (run, at - requested[run])
