"""A step receiving an object from S3 is waiting, not computing: the whole read, its body too,
gives the process's turn to another step (streams/execution/turns.py). Against a far store a
model's body arrives over many round trips, and a step holding the turn meanwhile would idle its
process's core."""
from __future__ import annotations

import threading
import time

from streams.core.settings import Settings
from streams.execution.context import StageContext
from streams.execution.turns import turns
from tests.unit.execution.s3_double import Response, S3Double


class _FarBody(Response):
    """A body that arrives slowly; says when its reading began."""

    def __init__(self, data: bytes, reading: threading.Event):
        super().__init__(data)
        self.reading = reading

    def read(self, n: int) -> bytes:
        self.reading.set()
        time.sleep(0.4)
        return super().read(n)


def test_another_step_computes_while_a_step_receives_an_objects_body():
    s3, reading, at = S3Double(), threading.Event(), {}
    s3.objects[("models", "lib/part.stl")] = b"solid part\nendsolid part\n"
    s3.get_object = lambda bucket, key: _FarBody(s3.objects[(bucket, key)], reading)
    ctx = StageContext(Settings(), "download", lambda name: s3)

    def receiving_step():
        with turns.step():
            at["data"] = ctx.read({"storage": "default", "bucket": "models", "key": "lib/part.stl"})
            at["received"] = time.monotonic()

    def computing_step():
        assert reading.wait(5)
        with turns.step():
            at["computing"] = time.monotonic()

    threads = [threading.Thread(target=receiving_step), threading.Thread(target=computing_step)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert at["data"] == s3.objects[("models", "lib/part.stl")]
    assert at["computing"] < at["received"], "the other step had to wait for the body"
