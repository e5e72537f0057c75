"""The Faust agent of a processing stage: consume `<stage>.requested`, run the stage's work in the
processor pool, emit `<stage>.completed` or `<stage>.failed`.

The work itself lives one layer down (streams.execution.stages.<stage>, run in pool processes
that import no Kafka client); this module is the thin Kafka side. The output's event id is
derived from the input's id and the processor version, so a redelivered request yields the same
event, which the orchestrator ignores the second time.
"""
from __future__ import annotations

import asyncio
import logging
import os
import socket
import time

from processors.version import PROCESSOR_VERSION
from streams.core import names
from streams.core.envelope import derived_id, envelope
from streams.core.keyed_lock import KeyedLock
from streams.core.policy import error_info
from streams.execution.catalog import work_module
from streams.orchestration.admission import SHORT_STEP_MS
from streams.worker import metrics

log = logging.getLogger("meshstream")

IDENTITY = ("run_id", "model_id")
WORKER = f"{socket.gethostname()}:{os.getpid()}"


async def report_progress(rt, stage: str, record: dict, interval: float) -> None:
    """`started` (beat 0) once the step has run SHORT_STEP_MS, then a heartbeat every `interval`
    seconds until cancelled (when the step is answered). The orchestrator measures the step's
    execution from beat 0 and notices a lost step when the beats stop (ADR 0012). A step
    answered sooner sends no beat at all: the answer says it started, and a short step's
    service time counts as that bound (streams/orchestration/admission.py). A beat that cannot
    be sent is logged and skipped: it must never fail the step itself."""
    env_in, payload = record["envelope"], record["payload"]
    request_id = env_in["event_id"]
    started_at = int(time.time() * 1000)
    await asyncio.sleep(SHORT_STEP_MS / 1000)
    beat = 0
    while True:
        env = envelope(stage, env_in["correlation_id"], request_id, event_id=derived_id(names.STEP_STARTED, request_id, str(beat)))
        beat_payload = {"run_id": payload["run_id"], "model_id": payload["model_id"], "stage": stage,
                        "request_id": request_id, "beat": beat, "worker": WORKER, "started_at": started_at}
        try:
            ack = await rt.send_soon(names.STEP_STARTED, payload["run_id"], beat_payload, env)
            asyncio.ensure_future(ack).add_done_callback(_log_failed_beat)
        except Exception:  # noqa: BLE001 - see the docstring
            log.warning("%s: heartbeat %d of run %s not sent", stage, beat, payload["run_id"], exc_info=True)
        beat += 1
        await asyncio.sleep(interval)


def _log_failed_beat(ack: asyncio.Future) -> None:
    if not ack.cancelled() and ack.exception() is not None:
        log.warning("a heartbeat was not acknowledged: %s", ack.exception())


def register_stage(stage: str, deliver=None):
    """Build the `register(app, rt)` function of a stage module (its `work` runs in the pool).

    `deliver(rt, record, result)`, when given, replaces sending `<stage>.completed`: a stage whose
    answer comes from another agent (similarity: the index partition owning the model's cell)
    hands its result on instead. Its failure is the stage's failure, reported as usual."""
    module = work_module(stage)

    def register(app, rt) -> None:
        async def handle(rt, contract, record: dict) -> None:
            env_in, payload = record["envelope"], record["payload"]
            identity = {k: payload[k] for k in IDENTITY}

            def outcome_envelope() -> dict:  # made when the outcome is known: occurred_at is when the step ended
                return envelope(stage, env_in["correlation_id"], env_in["event_id"],
                                event_id=derived_id(stage, env_in["event_id"], PROCESSOR_VERSION), version=PROCESSOR_VERSION)
            started = time.monotonic()
            beats: list[asyncio.Future] = []

            def begin() -> None:  # a pool process is free: the step's work starts now
                beats.append(asyncio.ensure_future(report_progress(rt, stage, record, rt.settings.heartbeat_seconds)))

            try:
                result = await rt.run_stage(module, stage, payload, on_start=begin)
                if deliver is not None:
                    await deliver(rt, record, result)
                    value = None
                else:
                    # encoding validates the contract's constraints: a result that breaks them is a
                    # failure of this stage, reported as such, never a run left waiting
                    value = rt.encode(f"{stage}.completed", {"envelope": outcome_envelope(), "payload": {**identity, **result}})
            except Exception as exc:  # noqa: BLE001 - every failure becomes a failed event with its reason
                failed = rt.manifest.stage(stage, "failed")
                extra = {k: payload[k] for k in failed.payload_field_names if k in payload and k not in identity and k != "error"}
                error = error_info(exc)
                log.info("%s failed run=%s model=%s in %.2fs: %s: %s", stage, payload["run_id"], payload["model_id"],
                         time.monotonic() - started, error["code"], error["message"][:200])
                metrics.stage_done(stage, time.monotonic() - started, code=error["code"])
                for beat in beats:
                    beat.cancel()
                await rt.send(f"{stage}.failed", payload["run_id"], {**identity, **extra, "error": error}, outcome_envelope())
                return
            finally:
                for beat in beats:
                    beat.cancel()
            log.info("%s %s run=%s model=%s in %.2fs", stage, "completed" if value is not None else "handed on",
                     payload["run_id"], payload["model_id"], time.monotonic() - started)
            if value is not None:
                await rt.send_encoded(f"{stage}.completed", payload["run_id"], value)
            metrics.stage_done(stage, time.monotonic() - started, result)

        in_order = KeyedLock()

        async def handle_in_order(rt, contract, record: dict) -> None:
            async with in_order(record["payload"]["run_id"]):
                await handle(rt, contract, record)

        # several requests at once: a slow model does not hold up the small ones behind it (acks
        # stay safe: the worker's consumer commits only up to the first record still in
        # processing, streams/faust_ext/transport.py in_flight_below); requests of one run key are still
        # handled in arrival order (KeyedLock)
        @app.agent(rt.topic(f"{stage}.requested"), name=stage, concurrency=rt.stage_concurrency)
        async def agent(stream):
            await rt.consume(stream, stage, handle_in_order)

    return register
