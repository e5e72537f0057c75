"""A stage `work` for the processor-pool tests: reports its process, fails, or dies on request."""
from __future__ import annotations

import os
import signal
import time

from processors.errors import CorruptMeshError

IMPORTED_IN = os.getpid()  # the process that imported this module (a forkserver's preload, or the pool process)


def work(ctx, payload: dict) -> dict:
    if payload.get("die"):
        os.kill(os.getpid(), signal.SIGKILL)
    if payload.get("corrupt"):
        raise CorruptMeshError("not a mesh (simulated)")
    if payload.get("bug"):
        raise KeyError("a bug")
    time.sleep(payload.get("sleep", 0))
    return {"pid": os.getpid(), "stage": ctx.stage, "echo": payload.get("echo"), "imported_in": IMPORTED_IN}
