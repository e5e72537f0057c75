"""What every agent needs, in one place: decoding with dead-lettering, encoding and sending,
storage clients, a thread pool for blocking I/O and the processor pool for CPU-bound stages.

Agents stay thin: decode -> call a processor -> send an event. Anything that goes wrong with a
record ends up on the dead-letter topic with its original bytes, topic, partition and offset.
"""
from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable

from registry.manifest import Contract, Manifest
from registry.serde import AvroSerde
from streams.worker import metrics
from streams.core.envelope import derived_id, envelope
from streams.core.policy import InPlaceRetry, error_info
from streams.execution.catalog import processing_stages, work_module
from streams.execution.storages import Storages
from streams.worker.topics import faust_topic
from streams.core import names

log = logging.getLogger("meshstream")

__all__ = ["DEAD_LETTER", "Runtime", "error_info", "log"]

DEAD_LETTER = names.DEAD_LETTERED


class Runtime:
    def __init__(self, app, settings, manifest: Manifest, serde: AvroSerde):
        self.app = app
        self.settings = settings
        self.manifest = manifest
        self.serde = serde
        self._topics: dict[str, Any] = {}
        self.storage = Storages(settings)          # connection name -> S3 client
        self._threads = ThreadPoolExecutor(max_workers=4, thread_name_prefix="io")
        self._pool = None
        self._pool_lock = threading.Lock()  # the pool is made once, on the loop or in start_pool's thread

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
        await (await self.send_encoded_soon(contract_name, key, value))

    async def send_soon(self, contract_name: str, key: str, payload: dict, env: dict):
        """Encode and hand to the producer; returns the broker's acknowledgement to await (several
        sends awaited together share produce requests)."""
        return await self.send_encoded_soon(contract_name, key, self.encode(contract_name, {"envelope": env, "payload": payload}))

    async def send_encoded_soon(self, contract_name: str, key: str, value: bytes):
        return await self.topic(contract_name).send(key=key.encode(), value=value)

    # -- consuming ----------------------------------------------------------------------
    def contract_of(self, event) -> Contract:
        return self.manifest.by_topic(event.message.topic)

    async def consume(self, stream, stage: str, handle: Callable) -> None:
        """The loop every agent runs: decode, handle, then ack; the policy routes what fails.

        Acks are manual: Faust's automatic ack fires in a `finally` around the agent body, so an
        agent cancelled mid-event (worker shutdown, rebalance) would commit an offset it never
        finished and silently lose that record. Here an event is acked only after its outputs
        (or its dead letter) were acknowledged by the broker; an interrupted one is redelivered.
        """
        metrics.init_stage(stage)
        manual = stream.noack()
        async for event in manual.events():
            metrics.event_in(stage)
            await self.process(event, stage, handle)
            await manual.ack(event)

    async def consume_batches(self, stream, stage: str, handle_batch: Callable, max_batch: int) -> None:
        """`consume` for an agent that handles every event already received at once
        (streams/faust_ext/batches.py): `handle_batch(rt, [(contract, record, message), ...])`. Acked after
        the whole batch was handled, as `consume` acks one event."""
        from streams.faust_ext.batches import ready_batches

        metrics.init_stage(stage)
        manual = stream.noack()
        async for batch in ready_batches(manual, max_batch):
            for _ in batch:
                metrics.event_in(stage)
            await self.process_batch(batch, stage, handle_batch)
            for event in batch:
                await manual.ack(event)

    async def process_batch(self, batch: list, stage: str, handle_batch: Callable) -> None:
        """Decode and handle a batch, with `process`'s policy: a transient failure retries the
        whole batch in place (with backoff, until `transient_retry_seconds`, then every event is
        dead-lettered as `process` would); a deterministic one (bad bytes, a bug) sends the batch
        through `process` one event at a time, so only the event that fails is dead-lettered."""
        retry = InPlaceRetry()
        deadline = time.monotonic() + self.settings.transient_retry_seconds
        while True:
            try:
                items = []
                for event in batch:
                    contract = self.contract_of(event)
                    items.append((contract, self.serde.decode(event.message.value, contract), event.message))
                await handle_batch(self, items)
                return
            except Exception as exc:  # noqa: BLE001 - routed by the policy, never raised into Faust
                info = error_info(exc)
                if not info["retryable"]:
                    break
                if time.monotonic() >= deadline:
                    for event in batch:
                        await self.dead_letter(event, stage, info["code"], exc, retryable=True, attempts=retry.failures + 1)
                    return
                delay = retry.next_delay()
                log.warning("%s: batch of %d transient %s (attempt %d), retrying in %.1fs: %s", stage, len(batch),
                            info["code"], retry.failures, delay, info["message"][:200])
                await asyncio.sleep(delay)
        for event in batch:
            await self.process(event, stage, lambda rt, contract, record, message=event.message:
                               handle_batch(rt, [(contract, record, message)]))

    async def process(self, event, stage: str, handle: Callable) -> None:
        """Decode and handle one record. A deterministic failure (bad bytes, unknown schema id,
        constraint violation, a bug) dead-letters it at once with the reason. A transient one
        (registry, storage or broker unavailable) keeps the record in place and tries again with
        backoff, so an outage dead-letters nothing; only after `transient_retry_seconds` of
        failures does the record go to the dead-letter topic, with the true attempt count."""
        contract = self.contract_of(event)
        retry = InPlaceRetry()
        deadline = time.monotonic() + self.settings.transient_retry_seconds
        while True:
            try:
                record = self.serde.decode(event.message.value, contract)
                await handle(self, contract, record)
                return
            except Exception as exc:  # noqa: BLE001 - routed by the policy, never raised into Faust
                info = error_info(exc)
                if info["retryable"] and time.monotonic() < deadline:
                    delay = retry.next_delay()
                    log.warning("%s: %s[%s]@%s transient %s (attempt %d), retrying in %.1fs: %s", stage,
                                event.message.topic, event.message.partition, event.message.offset,
                                info["code"], retry.failures, delay, info["message"][:200])
                    await asyncio.sleep(delay)
                    continue
                await self.dead_letter(event, stage, info["code"], exc, retryable=info["retryable"],
                                       attempts=retry.failures + 1)
                return

    async def dead_letter(self, event, stage: str, code: str, exc: BaseException | str,
                          retryable: bool = False, attempts: int = 1) -> None:
        msg = event.message
        now = int(time.time() * 1000)
        text = str(exc)
        metrics.dead_lettered(stage, code)
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
    @property
    def pool(self):
        """The processor pool, started on first use (a worker that runs no stage never starts it)."""
        with self._pool_lock:
            if self._pool is None:
                from streams.execution.pool import ProcessorPool

                # every stage module, imported once by the pool's forkserver (streams/execution/pool.py)
                preload = tuple(work_module(s) for s in processing_stages(self.manifest))
                self._pool = ProcessorPool(self.settings, preload=preload)
                metrics.POOL_SIZE.set(self._pool.capacity)  # right from start-up, not from the first probe
            return self._pool

    async def start_pool(self):
        """The pool, made in a thread: its first process waits for the forkserver's imports
        (seconds on a busy machine), and the event loop keeps serving meanwhile."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, lambda: self.pool)

    @property
    def stage_concurrency(self) -> int:
        """Requests each stage agent handles at once: enough to keep every pool slot busy."""
        from streams.execution.pool import pool_capacity

        return self.settings.stage_concurrency or pool_capacity(self.settings)

    async def run_stage(self, module: str, stage: str, payload: dict, on_start=None) -> dict:
        """A stage's CPU-bound `work` in the processor pool (all cores, off the event loop);
        `on_start()` when a pool process is free to begin it. The pool's running and queued tasks
        are counted here (metrics.pool_task)."""
        pool = self.pool
        with metrics.pool_task(pool.capacity):
            return await pool.run(module, stage, payload, on_start=on_start)

    async def run_blocking(self, fn: Callable, *args):
        """Run blocking I/O (listing a bucket) off the event loop, so heartbeats keep flowing."""
        return await asyncio.get_running_loop().run_in_executor(self._threads, fn, *args)
