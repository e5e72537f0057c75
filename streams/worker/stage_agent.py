"""The Faust agent of a processing stage: consume `<stage>.requested`, run the stage's work in the
processor pool, emit `<stage>.completed` or `<stage>.failed`.

The work itself lives one layer down (streams.execution.stages.<stage>, run in pool processes
that import no Kafka client); this module is the thin Kafka side. The output's event id is
derived from the input's id and the processor version, so a redelivered request yields the same
event, which the orchestrator ignores the second time.
"""
from __future__ import annotations

import logging
import time

from processors.model import PROCESSOR_VERSION
from streams.core.envelope import derived_id, envelope
from streams.core.keyed_lock import KeyedLock
from streams.core.policy import error_info
from streams.execution.catalog import work_module
from streams.worker import metrics

log = logging.getLogger("meshstream")

IDENTITY = ("run_id", "model_id")


def register_stage(stage: str):
    """Build the `register(app, rt)` function of a stage module (its `work` runs in the pool)."""
    module = work_module(stage)

    def register(app, rt) -> None:
        async def handle(rt, contract, record: dict) -> None:
            env_in, payload = record["envelope"], record["payload"]
            identity = {k: payload[k] for k in IDENTITY}
            env = envelope(stage, env_in["correlation_id"], env_in["event_id"],
                           event_id=derived_id(stage, env_in["event_id"], PROCESSOR_VERSION), version=PROCESSOR_VERSION)
            started = time.monotonic()
            try:
                result = await rt.run_stage(module, stage, payload)
                # encoding validates the contract's constraints: a result that breaks them is a
                # failure of this stage, reported as such, never a run left waiting
                value = rt.encode(f"{stage}.completed", {"envelope": env, "payload": {**identity, **result}})
            except Exception as exc:  # noqa: BLE001 - every failure becomes a failed event with its reason
                failed = rt.manifest.stage(stage, "failed")
                extra = {k: payload[k] for k in failed.payload_field_names if k in payload and k not in identity and k != "error"}
                error = error_info(exc)
                log.info("%s failed run=%s model=%s in %.2fs: %s: %s", stage, payload["run_id"], payload["model_id"],
                         time.monotonic() - started, error["code"], error["message"][:200])
                metrics.stage_done(stage, time.monotonic() - started, code=error["code"])
                await rt.send(f"{stage}.failed", payload["run_id"], {**identity, **extra, "error": error}, env)
                return
            log.info("%s completed run=%s model=%s in %.2fs", stage, payload["run_id"], payload["model_id"],
                     time.monotonic() - started)
            await rt.send_encoded(f"{stage}.completed", payload["run_id"], value)
            metrics.stage_done(stage, time.monotonic() - started, result)

        in_order = KeyedLock()

        async def handle_in_order(rt, contract, record: dict) -> None:
            async with in_order(record["payload"]["run_id"]):
                await handle(rt, contract, record)

        # several requests at once: a slow model does not hold up the small ones behind it (acks
        # stay safe: Faust commits only up to the first unacked offset of a partition,
        # Consumer._new_offset stops at the first gap); requests of one run key are still
        # handled in arrival order (KeyedLock)
        @app.agent(rt.topic(f"{stage}.requested"), name=stage, concurrency=rt.stage_concurrency)
        async def agent(stream):
            await rt.consume(stream, stage, handle_in_order)

    return register
