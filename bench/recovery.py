"""Time to recover the orchestrator's run table from its changelog, per table store.

Prints, for 10k and 100k runs, the wall time of a plain confluent-kafka consumer reading the
whole changelog (the baseline: the least any recovery can cost), and of a real Faust worker
with the same table definition as the orchestrator recovering it with
* memory   (MESHSTREAM_TABLE_STORE=memory: every start replays the whole changelog),
* rocksdb cold (rocksdict, empty data dir: the first start on a new host),
* rocksdb warm (rocksdict, restart on the same data dir: only the changelog tail is read),
each as a ratio to the baseline measured in the same run. Worker times are from process start
(imports, Kafka connect, rebalance included) to the table holding every run; the line
"faust start, empty table" shows that fixed cost. Needs Java (a private Kafka on free ports).

    .venv/bin/python bench/recovery.py [--sizes 10000,100000]
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

TABLE = "workflow-runs"  # the orchestrator's table (streams/worker/agents/orchestrator.py)


def _run_value(i: int) -> bytes:
    """A finished run as the orchestrator stores it: about 700 bytes of JSON."""
    steps = {s: {"status": "completed", "attempts": 1, "requested_at": 1_700_000_000_000 + i,
                 "result": {"bucket": "meshstream-results", "key": f"runs/{i:08d}/{s}.json", "etag": "0" * 32}}
             for s in ("download", "technical-metadata")}
    return json.dumps({"run_id": f"run-{i:08d}", "scan_id": "bench", "model_id": f"{i:032x}", "workflow": "minimal",
                       "status": "completed", "steps": steps, "files": [{"bucket": "models", "key": f"m/{i}.stl"}]}).encode()


def fill(bootstrap: str, topic: str, partitions: int, count: int) -> None:
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    admin.create_topics([NewTopic(topic, partitions, 1, config={"cleanup.policy": "compact"})])[topic].result()
    producer = Producer({"bootstrap.servers": bootstrap, "partitioner": "murmur2_random", "linger.ms": 20,
                         "batch.num.messages": 10000})
    for i in range(count):
        while True:
            try:
                producer.produce(topic, key=f"run-{i:08d}".encode(), value=_run_value(i))
                break
            except BufferError:
                producer.poll(0.1)
    if producer.flush(120):
        raise RuntimeError("changelog not filled")


def plain_read(bootstrap: str, topic: str, partitions: int) -> tuple[float, int]:
    """Baseline: assign every partition from the beginning and read to the high watermark."""
    from confluent_kafka import Consumer, TopicPartition

    start = time.monotonic()
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-{uuid.uuid4()}",
                         "enable.auto.commit": False, "auto.offset.reset": "earliest"})
    ends = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)}
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    done, seen = {p for p, end in ends.items() if end == 0}, 0
    while len(done) < partitions:
        for msg in consumer.consume(1000, timeout=1.0):
            if msg.error():
                continue
            seen += 1
            json.loads(msg.value())  # what a store does with a value, at least
            if msg.offset() + 1 >= ends[msg.partition()]:
                done.add(msg.partition())
    consumer.close()
    return time.monotonic() - start, seen


def child(bootstrap: str, app_id: str, store: str, datadir: str, partitions: int, expected: int) -> None:
    """A Faust worker holding only the orchestrator's table; exits once every run is in it."""
    start = time.monotonic()
    import faust

    app = faust.App(app_id, broker=f"kafka://{bootstrap}", broker_session_timeout=6, store=store, datadir=datadir, autodiscover=False,
                    web_enabled=False, topic_partitions=partitions, consumer_auto_offset_reset="earliest",
                    topic_replication_factor=1, logging_config=None)
    table = app.Table(TABLE, default=None, partitions=partitions, key_type=bytes, value_type=None, use_partitioner=True)

    @app.timer(interval=0.2)
    async def check():
        if os.environ.get("BENCH_DEBUG"):
            print(f"{time.monotonic() - start:.1f} in_recovery={app.in_recovery} "
                  f"completed={app.tables.recovery.completed.is_set()}", file=sys.stderr, flush=True)
        if app.in_recovery or not app.tables.recovery.completed.is_set():
            return
        n = sum(1 for _ in table.keys())
        if n >= expected:
            print(json.dumps({"seconds": time.monotonic() - start, "rows": n}), flush=True)
            # leave the consumer group cleanly, or the next run of the same app id waits for
            # this member's session to time out; hard exit if the stop itself hangs
            asyncio.get_running_loop().call_later(15, os._exit, 0)
            asyncio.ensure_future(_stop())

    async def _stop():
        await worker.stop()
        os._exit(0)

    worker = faust.Worker(app, loglevel=os.environ.get("BENCH_LOGLEVEL", "warning"), quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


def run_child(bootstrap, app_id, store, datadir, partitions, expected, timeout=600) -> float:
    out = subprocess.run([sys.executable, __file__, "--child", bootstrap, app_id, store, datadir, str(partitions), str(expected)],
                         cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if os.environ.get("BENCH_DEBUG"):
        print(out.stderr[-3000:], file=sys.stderr)
    for line in out.stdout.splitlines():
        if '{"seconds"' in line:  # Faust's spinner may prefix terminal escapes
            return json.loads(line[line.index('{"seconds"'):])["seconds"]
    raise RuntimeError(f"worker did not recover {expected} rows ({store}): {out.stdout[-800:]}{out.stderr[-2000:]}")


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        b, app_id, store, datadir, parts, expected = sys.argv[2:8]
        child(b, app_id, store, datadir, int(parts), int(expected))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000")
    args = parser.parse_args()

    from registry.manifest import default_manifest
    from stack.config import StackConfig
    from stack.services import Kafka

    partitions = default_manifest().by_name("discovery.discovered").partitions
    with tempfile.TemporaryDirectory(prefix="meshstream-recovery-") as tmp:
        kafka = Kafka(StackConfig().with_free_ports(Path(tmp)))
        try:
            kafka.start()
            kafka.wait()
            bootstrap = kafka.endpoint()
            empty_app = f"bench-empty-{uuid.uuid4().hex[:6]}"
            base_start = run_child(bootstrap, empty_app, "memory://", str(Path(tmp) / "empty"), partitions, 0)
            print(f"faust start, empty table: {base_start:.2f} s  (included in every worker time below)")
            for size in (int(s) for s in args.sizes.split(",")):
                app_id = f"bench-{size}-{uuid.uuid4().hex[:6]}"
                topic = f"{app_id}-{TABLE}-changelog"
                t = time.monotonic()
                fill(bootstrap, topic, partitions, size)
                print(f"\n{size:,} runs ({partitions} partitions) written in {time.monotonic() - t:.1f} s")
                plain, seen = plain_read(bootstrap, topic, partitions)
                assert seen == size, (seen, size)
                print(f"  plain consumer reads the changelog: {plain:6.2f} s  (baseline 1.00x)")
                rocks_dir = str(Path(tmp) / f"rocks-{size}")
                for label, store, datadir in (("memory", "memory://", str(Path(tmp) / f"mem-{size}")),
                                              ("rocksdb cold", "rocksdb://", rocks_dir),
                                              ("rocksdb warm", "rocksdb://", rocks_dir)):
                    secs = run_child(bootstrap, app_id, store, datadir, partitions, size)
                    print(f"  faust {label:13s} recovers the table: {secs:6.2f} s  ({secs / plain:5.2f}x baseline)", flush=True)
        finally:
            kafka.process.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
