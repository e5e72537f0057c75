"""Faust's aiokafka transport, with the stream consumer's fetches batched.

Why: Faust builds its stream consumer with `fetch.min.bytes` = 1, so every fetch returns as soon
as one record exists. A worker consumes many partitions (the orchestrator: every stage's outcome
topics, 15 topics x 4 partitions), and each fetch request and response names every one of them
in pure-Python protocol code. With records trickling in one at a time, the worker then spends
more CPU on fetch round trips than on the events. Kafka's own answer is `fetch.min.bytes` with a
bounded `fetch.max.wait.ms`: the broker answers when enough bytes are ready or the wait is over,
so a busy pipeline gets full batches and an idle one pays at most the wait per hop in latency.
Both are settings (`MESHSTREAM_FETCH_MIN_BYTES`, `MESHSTREAM_FETCH_MAX_WAIT_MS`).

Faust exposes neither, so this module supplies the transport's consumer thread that sets them
on the aiokafka consumer before it starts (aiokafka builds its fetcher from these in `start()`;
tests/unit/test_transport.py pins that contract against the locked aiokafka).
"""
from __future__ import annotations

from faust.transport.drivers import aiokafka as driver


def batching_transport(fetch_min_bytes: int, fetch_max_wait_ms: int) -> type[driver.Transport]:
    """A Faust transport class whose stream consumer uses these fetch bounds."""

    class BatchingConsumerThread(driver.AIOKafkaConsumerThread):
        def _create_worker_consumer(self, transport):
            consumer = super()._create_worker_consumer(transport)
            consumer._fetch_min_bytes = fetch_min_bytes
            consumer._fetch_max_wait_ms = fetch_max_wait_ms
            return consumer

    class BatchingConsumer(driver.Consumer):
        def _new_consumer_thread(self):
            return BatchingConsumerThread(self, loop=self.loop, beacon=self.beacon)

    class BatchingTransport(driver.Transport):
        Consumer = BatchingConsumer

    return BatchingTransport
