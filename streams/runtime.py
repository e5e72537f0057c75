"""What every agent needs, in one place: decoding with dead-lettering, encoding and sending,
storage clients, and a thread pool for CPU-bound processors.

Agents stay thin: decode -> call a processor -> send an event. Anything that goes wrong with a
record ends up on the dead-letter topic with its original bytes, topic, partition and offset.
"""
from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from registry.manifest import Contract, Manifest
from registry.serde import AvroSerde, SerdeError
from streams.envelope import derived_id, envelope
from streams.topics import faust_topic

log = logging.getLogger("meshstream")

DEAD_LETTER = "pipeline.dead-lettered"


def error_info(exc: BaseException) -> dict:
    """The ErrorInfo record for an exception: typed processing errors keep their code and
    retryability; anything else is an internal error (a bug), logged with its traceback."""
    code = getattr(exc, "code", None)
    if not isinstance(code, str):
        log.exception("unexpected error", exc_info=exc)
        code = "internal_error"
    return {"code": code, "error_class": type(exc).__name__, "message": str(exc)[:4000],
            "retryable": bool(getattr(exc, "retryable", False))}


class Runtime:
    def __init__(self, app, settings, manifest: Manifest, serde: AvroSerde):
        self.app = app
        self.settings = settings
        self.manifest = manifest
        self.serde = serde
        self._topics: dict[str, Any] = {}
        self._storage: dict[str, Any] = {}
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="processor")

    # -- topics and sending -------------------------------------------------------------
    def topic(self, *names: str):
        key = "|".join(names)
        if key not in self._topics:
            self._topics[key] = faust_topic(self.app, *(self.manifest.by_name(n) for n in names))
        return self._topics[key]

    def encode(self, contract_name: str, record: dict) -> bytes:
        """Avro-encode a record of the contract, validating its constraints (EncodeError)."""
        return self.serde.encode(self.manifest.by_name(contract_name), record)

    async def send(self, contract_name: str, key: str, payload: dict, env: dict) -> None:
        """Encode (validating constraints) and send, waiting for the broker's ack so the input's
        offset is never committed ahead of its outputs."""
        await self.send_encoded(contract_name, key, self.encode(contract_name, {"envelope": env, "payload": payload}))

    async def send_encoded(self, contract_name: str, key: str, value: bytes) -> None:
        fut = await self.topic(contract_name).send(key=key.encode(), value=value)
        await fut

    # -- consuming ----------------------------------------------------------------------
    def contract_of(self, event) -> Contract:
        return self.manifest.by_topic(event.message.topic)

    async def decode(self, event, stage: str) -> dict | None:
        """The decoded record, or None after routing the undecodable record to the DLQ."""
        contract = self.contract_of(event)
        try:
            return self.serde.decode(event.message.value, contract)
        except SerdeError as exc:
            await self.dead_letter(event, stage, exc.code, exc, retryable=exc.retryable)
            return None

    async def consume(self, stream, stage: str, handle: Callable) -> None:
        """The loop every agent runs: decode, handle, dead-letter whatever fails, then ack.

        Acks are manual: Faust's automatic ack fires in a `finally` around the agent body, so an
        agent cancelled mid-event (worker shutdown, rebalance) would commit an offset it never
        finished and silently lose that record. Here an event is acked only after its outputs
        (or its dead letter) were acknowledged by the broker; an interrupted one is redelivered.
        """
        manual = stream.noack()
        async for event in manual.events():
            record = await self.decode(event, stage)
            if record is not None:
                try:
                    await handle(self, self.contract_of(event), record)
                except Exception as exc:  # noqa: BLE001 - kept with its reason on the DLQ
                    info = error_info(exc)
                    await self.dead_letter(event, stage, info["code"], exc, retryable=info["retryable"])
            await manual.ack(event)

    async def dead_letter(self, event, stage: str, code: str, exc: BaseException | str,
                          retryable: bool = False, attempts: int = 1) -> None:
        msg = event.message
        now = int(time.time() * 1000)
        text = str(exc)
        log.warning("dead-letter %s[%s]@%s from %s: %s: %s", msg.topic, msg.partition, msg.offset, stage, code, text)
        payload = {
            "original_topic": msg.topic, "original_partition": msg.partition, "original_offset": msg.offset,
            "original_key": msg.key, "original_value": msg.value, "stage": stage,
            "error": {"code": code, "error_class": type(exc).__name__ if not isinstance(exc, str) else "Error",
                      "message": text[:4000], "retryable": retryable},
            "attempts": attempts, "first_failure_at": now, "last_failure_at": now,
        }
        # Deterministic id: a redelivered poison record yields the same dead letter, not a new one.
        env = envelope(stage, correlation_id=f"{msg.topic}:{msg.partition}:{msg.offset}",
                       event_id=derived_id("dead-letter", msg.topic, str(msg.partition), str(msg.offset)))
        await self.send(DEAD_LETTER, key=f"{msg.topic}:{msg.partition}:{msg.offset}", payload=payload, env=env)

    # -- work ---------------------------------------------------------------------------
    async def run_blocking(self, fn: Callable, *args):
        """Run CPU- or I/O-bound processor code off the event loop, so heartbeats keep flowing."""
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def storage(self, name: str):
        if name not in self._storage:
            from processors.storage import connect
            conn = self.settings.storage(name)
            self._storage[name] = connect(conn.endpoint, conn.access_key, conn.secret_key, conn.secure, conn.ca_location)
        return self._storage[name]
