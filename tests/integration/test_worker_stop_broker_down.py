"""A worker told to stop (SIGTERM) while the broker is unreachable exits within seconds, even in
the middle of a batch, and the next worker finishes every run of that batch exactly once.

Issue 22: it took about 70 s (67 s measured here): aiokafka's consumer stop re-raised a
CancelledError inside Faust's consumer thread, which then never reported "stopped", and mode
waited its 60 s shutdown_timeout (streams/faust_ext/transport.py now bounds that stop); after
that, the interpreter's exit waited for the processor pool's running tasks, such as the start-up
warm-up (streams/worker/main.py now terminates the pool).

A busy worker hung longer still: its stage agents had answers and heartbeats in the producer's
buffer when the broker went away, and Faust's app and aiokafka's producer stop flush them first,
waiting until they expire (Faust's producer_request_timeout: 20 minutes). Those are now bounded
too, and so is the consumer's last commit (aiokafka looked for the group coordinator without
end): all within one budget (streams/faust_ext/transport.py). What they drop was never
acknowledged or committed, so the partitions' next owner reads those requests again.

An operator stopping workers during a broker outage, or an orchestrator's stop grace period
(Kubernetes: 30 s), must not meet a process that hangs. This module starts its OWN private stack
because it stops the broker, which the session stack's other users must not see.
"""
from __future__ import annotations

import re
import signal
import time
import uuid

import pytest
import trimesh

from meshstream.worker_process import WorkerProcess

pytestmark = pytest.mark.integration

# the stop's budget for the broker (streams/faust_ext/transport.STOP_BUDGET, 5 s) + mode's own ~2 s
# of shutdown + stopping the agents beside a pool still busy on both cores: 8.1-9.2 s measured on a
# quiet machine, and CI machines run up to 2.5x slower (an idle worker took 10.4 s there with the
# old bounds); busy, it took 20 minutes before (Faust's producer_request_timeout), idle 67 s.
# Kubernetes' default stop grace period is 30 s.
BOUND_SECONDS = 15.0


@pytest.fixture(scope="module")
def private_stack(tmp_path_factory):
    from tests.conftest import start_stack

    local = start_stack(tmp_path_factory.mktemp("stop-stack"))
    yield local
    local.down()


def test_sigterm_with_the_broker_down_exits_within_seconds_while_busy(private_stack, tmp_path):
    from processors.storage import connect
    from registry.serde import AvroSerde, registry_client
    from streams.client import Publisher
    from streams.core.settings import Settings
    from streams.worker.main import prepare
    from tests.integration.helpers import terminal_events, upload

    env = {**private_stack.config.client_env(), "MESHSTREAM_APP_ID": f"meshstream-stop-{uuid.uuid4().hex[:6]}",
           "MESHSTREAM_HEARTBEAT_SECONDS": "0.5"}
    settings = Settings.from_env(env)
    prepare(settings)
    s3 = connect(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
    prefix = f"busy-{uuid.uuid4().hex[:6]}/"
    ball = trimesh.creation.icosphere(subdivisions=5, radius=20.0).export(file_type="stl")
    upload(s3, "models", {f"{prefix}ball{i}/ball{i}.stl": ball for i in range(8)})
    worker = WorkerProcess(env, tmp_path / "worker.log").start()
    try:
        scan_id = Publisher(settings).scan("models", prefix)
        deadline = time.monotonic() + 120
        while not re.search(r"started thumbnails", worker.log()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert re.search(r"started thumbnails", worker.log()), "the batch never reached its thumbnails"
        assert private_stack.kafka.process.stop(), "the private broker was running"
        time.sleep(3)  # steps finish and heartbeat into a producer that cannot deliver
        assert worker.alive
        t0 = time.monotonic()
        worker.proc.send_signal(signal.SIGTERM)
        code = worker.proc.wait(timeout=180)
        took = time.monotonic() - t0
        print(f"busy worker exited {code} {took:.1f} s after SIGTERM with the broker down")
        assert took < BOUND_SECONDS, f"took {took:.1f} s; log tail:\n{worker.log()[-3000:]}"
    finally:
        worker.stop(signal.SIGKILL)

    # what the stop dropped (outputs never acknowledged, offsets never committed) is read again
    private_stack.up()
    successor = WorkerProcess(env, tmp_path / "successor.log").start()
    try:
        completed, failed = terminal_events(settings, AvroSerde(registry_client(settings)), scan_id,
                                            expected=8, timeout=180)
        assert not failed, [r["payload"]["error"] for r in failed]
        assert sorted(r["payload"]["run_id"] for r in completed) == sorted({r["payload"]["run_id"] for r in completed})
        assert len(completed) == 8, f"{len(completed)} of 8 runs finished; log tail:\n{successor.log()[-3000:]}"
    finally:
        successor.stop()
