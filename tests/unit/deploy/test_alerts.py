"""The alert rules and dashboards in deploy/ against promtool and the metrics a worker exposes.

promtool (Debian's `prometheus` package, installed by `make install`) checks the rules' syntax
and runs deploy/alerts.test.yml, which feeds each alert the series it is about (it must fire,
with its summary) and a healthy pipeline (it must stay quiet)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from streams.worker import metrics

DEPLOY = Path(__file__).resolve().parents[3] / "deploy"
SUFFIXES = ("_total", "_bucket", "_count", "_sum")


def _promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is missing: `make install` installs Debian's prometheus package"
    return found


def test_promtool_accepts_the_rules_and_every_alert_fires_and_clears_as_specified():
    for argv in (["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]):
        proc = subprocess.run([_promtool(), *argv], cwd=DEPLOY, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    rules = yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"]
    tests = (DEPLOY / "alerts.test.yml").read_text()
    for rule in rules:  # each alert has a case where it fires (a non-empty exp_alerts)
        assert re.search(rf"alertname: {rule['alert']}\n\s+exp_alerts:\n\s+- ", tests), rule["alert"]
    assert {r["alert"] for r in rules} >= {"MeshstreamScanStuck", "MeshstreamDeadLettersRising",
                                           "MeshstreamConsumerLagGrowing", "MeshstreamNoReadyWorker"}


def _exposed_series() -> set[str]:
    names = set(re.findall(r"^# TYPE (\w+)", metrics.exposition()[0].decode(), re.M))
    return names | {n + s for n in names for s in SUFFIXES}


def test_every_metric_an_alert_or_a_grafana_panel_names_is_exposed():
    dash = json.loads((DEPLOY / "grafana/meshstream.json").read_text())
    exprs = [t["expr"] for p in dash["panels"] for t in p["targets"]]
    exprs += [r["expr"] for r in yaml.safe_load((DEPLOY / "alerts.yml").read_text())["groups"][0]["rules"]]
    named = {m for e in exprs for m in re.findall(r"\bmeshstream_\w+", e)}
    assert len(named) >= 12 and named <= _exposed_series(), named - _exposed_series()


def test_stage_counters_have_samples_at_zero_before_the_first_event():
    """A panel on `meshstream_step_timeouts` said "No data" until the first timeout; after an
    agent starts, its stage's counters and gauges are exposed at 0."""
    metrics.init_stage("zero-stage")
    text = metrics.exposition()[0].decode()
    for series in ('meshstream_stage_completed_total{stage="zero-stage"} 0.0',
                   'meshstream_stage_events_in_total{stage="zero-stage"} 0.0',
                   'meshstream_step_timeouts{stage="zero-stage"} 0.0',
                   'meshstream_step_retries{stage="zero-stage"} 0.0',
                   'meshstream_dead_letters_total{code="timeout",stage="zero-stage"} 0.0'):
        assert series in text, series


def test_pool_use_counts_queued_tasks_apart_from_running_ones():
    """Five tasks in flight on a pool of two processes: two running, three queued."""
    import contextlib

    def sample(name):
        return float(re.search(rf"^{name} (\S+)$", metrics.exposition()[0].decode(), re.M).group(1))

    with contextlib.ExitStack() as stack:
        for _ in range(5):
            stack.enter_context(metrics.pool_task(2))
        assert (sample("meshstream_pool_size"), sample("meshstream_pool_busy"), sample("meshstream_pool_queued")) == (2, 2, 3)
    assert (sample("meshstream_pool_busy"), sample("meshstream_pool_queued")) == (0, 0)
