"""A sample of the hostile inputs of `make stress` (stress/hostile.py) against the session stack
and worker: every input ends as a failed run or a dead letter with its reason (or a completed run
where a mutant is still a valid mesh), none is left without an outcome, and the worker lives on."""
from __future__ import annotations

import pytest

from registry.manifest import default_manifest
from stress.harness import Harness
from stress.hostile import generate

pytestmark = pytest.mark.integration


def _sample(inputs, n):
    """Every k-th input, so each family (formats, bombs, keys, topics) is represented."""
    files = [i for i in inputs if i.kind == "file"]
    records = [i for i in inputs if i.kind == "record"]
    pick = lambda xs, k: xs[:: max(1, len(xs) // k)][:k]  # noqa: E731
    fixed = [i for i in files if i.category in ("3mf-zip-bomb", "stl-huge-count", "stl_ascii-nan", "3mf-billion-laughs")]
    return fixed + pick(files, n // 2 - len(fixed)) + pick(records, n - n // 2)


def test_hostile_inputs_end_with_a_reason_and_the_worker_survives(settings, s3, worker, prepared):
    inputs = _sample(generate(default_manifest(), 400, seed=11, tag="it-hostile", big=False), 60)
    assert len(inputs) >= 60 and {i.kind for i in inputs} == {"file", "record"}
    pid = worker.proc.pid
    harness = Harness(settings, s3)
    traces = harness.feed(inputs)
    harness.close()
    report = harness.collect(traces, timeout=180, alive=lambda: worker.alive)
    summary = "\n".join(report.lines())
    assert report.outcomes["missing"] == 0, summary
    assert report.unexpected == [], summary
    assert worker.alive and worker.proc.pid == pid, "the worker never died"
    kinds = {o.split(":")[0] for o in report.outcomes}
    assert {"failed", "dead_letter"} <= kinds, summary
