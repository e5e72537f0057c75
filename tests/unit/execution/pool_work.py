"""A stage `work` for the processor-pool tests: computes, waits as on S3, reports its process, fails or dies, on request."""
from __future__ import annotations

import os
import signal
import time

from processors.errors import CorruptMeshError
from streams.execution.turns import turns

IMPORTED_IN = os.getpid()  # the process that imported this module (a forkserver's preload, or the pool process)


def work(ctx, payload: dict) -> dict:
    if payload.get("corrupt"):
        raise CorruptMeshError("not a mesh (simulated)")
    if payload.get("bug"):
        raise KeyError("a bug")
    began = time.monotonic()  # CLOCK_MONOTONIC: one clock for every process of the machine
    while time.monotonic() - began < payload.get("compute", 0):
        pass  # geometry: a turn at computing
    computed = time.monotonic()
    with turns.waiting():  # as a step waits on S3
        time.sleep(payload.get("sleep", 0))
    if payload.get("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    return {"pid": os.getpid(), "stage": ctx.stage, "echo": payload.get("echo"), "imported_in": IMPORTED_IN,
            "began": began, "computed": computed, "ended": time.monotonic()}
