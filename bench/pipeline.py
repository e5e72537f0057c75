"""Pipeline efficiency: how much of the machine goes to geometry, measured in one run.

Run: .venv/bin/python bench/pipeline.py [--models 40] [--workflow complete] [--tiny 200]

1. Builds N varied models (600-12,000 triangles, one per folder) and measures the processors'
   own CPU on them, serially, in this process: the processors the workflow's stages call, with
   their default options, and nothing else (bench/workflow_work.py): the work, measured before the first configuration and after each one
   (the machine's speed drifts); each configuration is compared with the mean of the two
   measurements around it. Ideal wall on C cores = that / C.
2. Runs the workflow (default `complete`: download, metadata, thumbnails with turntable,
   metamodel, print analysis, sellability) on a fresh private stack, after a warm-up batch of
   other models (`--warm-up`, default 10: the stack's JVMs compile their hot paths during the
   first batch, a cost a running deployment paid long ago), from the scan to the last
   terminal event, with: one worker limited to one core by CPU affinity (event loop and its pool
   of one share that core: its single-core figure), one worker on all cores (default pool, one
   process per core), and two workers limited to one core each. Prints wall, efficiency = (pure
   CPU / cores used) / wall, worker CPU / pure CPU, the stack's CPU over the run (Kafka, the
   registry and S3 share the machine: a worker pinned to one core leaves them the other one),
   and the speed-ups.
3. The minimal workflow on tiny models with the orchestrator in its own worker: events per
   second and the orchestrator's CPU per model; and a plain confluent-kafka consume->produce
   loop on the same broker as the event-path ceiling.

Every figure is a ratio to something measured in the same run (these machines are noisy).
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import trimesh  # noqa: E402

CLK = os.sysconf("SC_CLK_TCK")


# -- models -----------------------------------------------------------------------------------------

def build_models(n: int, seed: int = 7) -> dict[str, bytes]:
    """N closed meshes of 600-12,000 triangles in several shapes, each in its own folder."""
    rng = np.random.default_rng(seed)
    out = {}
    for i in range(n):
        target = int(rng.integers(600, 12_001))
        kind = ("sphere", "torus", "cylinder", "capsule", "box")[i % 5]
        if kind == "sphere":
            mesh = trimesh.creation.icosphere(subdivisions=int(np.clip(np.log(target / 20) / np.log(4), 2, 4)),
                                              radius=float(rng.uniform(5, 40)))
        elif kind == "torus":
            sections = max(8, int(np.sqrt(target / 2)))
            mesh = trimesh.creation.torus(float(rng.uniform(15, 40)), float(rng.uniform(3, 10)),
                                          major_sections=sections, minor_sections=sections)
        elif kind == "cylinder":
            mesh = trimesh.creation.cylinder(radius=float(rng.uniform(5, 30)), height=float(rng.uniform(10, 80)),
                                             sections=max(16, target // 4))
        elif kind == "capsule":
            count = max(8, int(np.sqrt(target / 2)))
            mesh = trimesh.creation.capsule(height=float(rng.uniform(10, 60)), radius=float(rng.uniform(4, 15)),
                                            count=[count, count])
        else:
            mesh = trimesh.creation.box(extents=rng.uniform(5, 80, 3))
            while len(mesh.faces) < target / 4:
                mesh = mesh.subdivide()
        mesh.apply_transform(trimesh.transformations.random_rotation_matrix(rng.random(3)))
        out[f"m{i:03d}-{kind}/{kind}_{i:03d}.stl"] = mesh.export(file_type="stl")
    return out


def serial_cpu(models: dict[str, bytes], workflow: str) -> float:
    """The processors' own CPU seconds for every model, one after the other, in this process:
    exactly the stages of `workflow` with their default options (bench/workflow_work.py)."""
    from workflow_work import run_workflow_work, stages_in_order

    stages = stages_in_order(workflow)
    by_model: dict[str, list[tuple[str, bytes]]] = {}
    for key, data in models.items():
        by_model.setdefault(key.split("/")[0], []).append((key, data))
    run_workflow_work(next(iter(by_model.values())), stages)  # imports and caches warm
    start = time.process_time()
    for files in by_model.values():
        run_workflow_work(files, stages)
    return time.process_time() - start


# -- processes' CPU ---------------------------------------------------------------------------------

def _children(pid: int) -> list[int]:
    out = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            out += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return out


def tree_pids(pid: int) -> list[int]:
    """A process and every live descendant (a worker and its pool processes)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += _children(p)
    return out


def process_cpu(pid: int) -> float:
    """CPU seconds of one process (utime + stime; 0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and every live descendant (pool processes included)."""
    return sum(process_cpu(p) for p in tree_pids(pid))


# -- the pipeline on a private stack ----------------------------------------------------------------

@contextmanager
def private_stack():
    from stack.config import StackConfig
    from stack.manager import LocalStack

    with tempfile.TemporaryDirectory(prefix="meshstream-bench-") as tmp:
        local = LocalStack(StackConfig().with_free_ports(Path(tmp)))
        try:
            local.up()
            yield local
        finally:
            local.down()


@contextmanager
def started_workers(env: dict, workers: list[dict], log_dir: Path):
    """Worker processes for `workers` (each: optional "env", "stages", "cpus"), launched together,
    ready, their pool processes started and imported (not part of a measured run); stopped on
    exit whatever happened, so no worker outlives its stack."""
    from meshstream.worker_process import WorkerProcess

    procs = [WorkerProcess({**env, **extra.get("env", {})}, log_dir / f"{env['MESHSTREAM_APP_ID']}-{i}.log",
                           stages=extra.get("stages"), cpus=extra.get("cpus")) for i, extra in enumerate(workers)]
    try:
        for p in procs:
            p.launch()
        for p in procs:
            p.wait_ready(300)
        for p in procs:
            deadline = time.monotonic() + 180
            while p.stages != "orchestrator" and "processor pool ready" not in p.log() and time.monotonic() < deadline:
                time.sleep(0.3)
        yield procs
    finally:
        for p in procs:
            p.stop()


def await_terminals(sub, scan_id: str, expected: int, timeout: float = 1800, on_event=None) -> tuple[int, int, float]:
    """(terminal events, failed ones, monotonic time of the last) of one scan, read from `sub`
    until `expected` have arrived or `timeout` passed; `on_event(event)` sees each of them."""
    done, failed, last = 0, 0, time.monotonic()
    for ev in sub.events(timeout=timeout):
        if ev.payload["scan_id"] != scan_id:
            continue
        done += 1
        failed += ev.contract == "processing.failed"
        last = time.monotonic()
        if on_event is not None:
            on_event(ev)
        if done >= expected:
            break
    return done, failed, last


def run_pipeline(models: dict[str, bytes], workflow: str, workers: list[dict], log_dir: Path,
                 warm_up: dict[str, bytes] | None = None, start_workers=None) -> dict:
    """Wall (scan -> last terminal event) and the workers' CPU for one configuration. With
    `warm_up`, those models are scanned first, unmeasured: a stack that has just started spends
    seconds of CPU compiling its JVM's hot paths (Kafka, the registry) and creating topics during
    its first batch, which a long-running deployment paid once; the measured batch is the second.
    `start_workers` replaces started_workers (same arguments): a bench that wraps the workers'
    start (a delay proxy in front of S3, reading their peak memory before they stop)."""
    from processors.storage import connect
    from registry.serde import AvroSerde, registry_client
    from streams.client import Publisher, Subscriber
    from streams.core.settings import Settings
    from tests.integration.helpers import upload

    with private_stack() as stack:
        env = {**stack.config.client_env(), "MESHSTREAM_APP_ID": f"bench-{uuid.uuid4().hex[:6]}"}
        settings = Settings.from_env(env)
        with (start_workers or started_workers)(env, workers, log_dir) as procs:
            s3 = connect(settings.s3_endpoint, settings.s3_access_key, settings.s3_secret_key)
            prefix = "bench/"
            upload(s3, "models", {prefix + k: v for k, v in models.items()})
            expected = len({k.split("/")[0] for k in models})
            sub = Subscriber(settings=settings, from_beginning=True)
            AvroSerde(registry_client(settings))
            if warm_up:
                upload(s3, "models", {"warm-up/" + k: v for k, v in warm_up.items()})
                warm_id = Publisher(settings).scan("models", "warm-up/", workflow=workflow)
                await_terminals(sub, warm_id, len({k.split("/")[0] for k in warm_up}), timeout=600)
            time.sleep(2.0)  # let the group settle after the last join
            stack_pids = {st.name: st.pid for st in stack.status() if st.pid}
            cpu0 = [tree_cpu(p.proc.pid) for p in procs]
            stack0 = {name: tree_cpu(pid) for name, pid in stack_pids.items()}
            t0 = time.monotonic()
            scan_id = Publisher(settings).scan("models", prefix, workflow=workflow)
            try:
                done, failed, last = await_terminals(sub, scan_id, expected)
            finally:
                sub.close()
            cpu = [tree_cpu(p.proc.pid) - c for p, c in zip(procs, cpu0)]
            stack_cpu = {name: tree_cpu(pid) - stack0[name] for name, pid in stack_pids.items()}
            events = contract_events(settings.kafka_bootstrap)
    if done < expected:
        raise RuntimeError(f"only {done}/{expected} runs finished")
    return {"wall": last - t0, "cpu": cpu, "failed": failed, "runs": done, "events": events, "stack_cpu": stack_cpu}


def contract_events(bootstrap: str) -> int:
    """Records on every contract topic of this (fresh, private) stack: the events the run made."""
    from registry.manifest import default_manifest

    return sum(topic_records(bootstrap, [c.topic for c in default_manifest().active]).values())


def topic_records(bootstrap: str, topics: list[str]) -> dict[str, int]:
    """{topic: records on it} (high - low watermark over its partitions; 0 for a missing topic)."""
    from confluent_kafka import Consumer, KafkaException, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": f"bench-count-{uuid.uuid4().hex[:6]}"})
    try:
        meta = consumer.list_topics(timeout=30).topics
        totals = {}
        for t in topics:
            totals[t] = 0
            for p in (meta[t].partitions if t in meta else {}):
                for attempt in range(10):
                    try:
                        low, high = consumer.get_watermark_offsets(TopicPartition(t, p), timeout=30)
                        totals[t] += high - low
                        break
                    except KafkaException:
                        time.sleep(0.5)
        return totals
    finally:
        consumer.close()


def raw_ceiling(n: int = 20_000) -> float:
    """Events per second of a plain confluent-kafka consume -> produce loop on a fresh broker."""
    with private_stack() as stack:
        # the clients live in the helper's frame: they are gone before the broker stops (otherwise
        # librdkafka reports the broker's shutdown as connection errors on stderr)
        return _consume_produce_rate(stack.config.kafka_bootstrap, n)


def _consume_produce_rate(bootstrap: str, n: int) -> float:
    from confluent_kafka import Consumer, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic("bench-in", 4, 1), NewTopic("bench-out", 4, 1)]).values():
        f.result()
    producer = Producer({"bootstrap.servers": bootstrap, "linger.ms": 5, "enable.idempotence": True, "acks": "all"})
    payload = os.urandom(300)
    for i in range(n):
        producer.produce("bench-in", key=str(i).encode(), value=payload)
        if i % 1000 == 0:
            producer.poll(0)
    producer.flush(60)
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench", "auto.offset.reset": "earliest",
                         "enable.auto.commit": True})
    consumer.subscribe(["bench-in"])
    seen, t0 = 0, None
    while seen < n:
        msg = consumer.poll(1.0)
        if msg is None or msg.error():
            continue
        t0 = t0 or time.monotonic()
        producer.produce("bench-out", key=msg.key(), value=msg.value())
        producer.poll(0)
        seen += 1
    producer.flush(60)
    elapsed = time.monotonic() - t0
    consumer.close()
    return n / elapsed


def tiny_models(n: int) -> dict[str, bytes]:
    cube = trimesh.creation.box(extents=(10, 10, 10)).export(file_type="stl")
    # distinct bytes per model (different names would not change the content hash)
    return {f"t{i:04d}/cube.stl": cube[:80 - len(str(i))] + str(i).encode() + cube[80:] for i in range(n)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=40)
    ap.add_argument("--workflow", default="complete")
    ap.add_argument("--tiny", type=int, default=200, help="tiny models for the event-path figures (0: skip)")
    ap.add_argument("--skip-two", action="store_true", help="skip the two-worker configuration")
    ap.add_argument("--warm-up", type=int, default=10,
                    help="models scanned on each fresh stack before the measured batch (0: measure the stack's first batch)")
    args = ap.parse_args()
    cpu_ids = sorted(os.sched_getaffinity(0))
    cores = len(cpu_ids)
    models = build_models(args.models)
    tris = [len(trimesh.load(trimesh.util.wrap_as_stream(v), file_type="stl").faces) for v in models.values()]
    print(f"{len(models)} models, {min(tris):,}-{max(tris):,} triangles, workflow {args.workflow}, {cores} cores")
    log_dir = Path(tempfile.mkdtemp(prefix="meshstream-bench-logs-"))
    warm_up = build_models(args.warm_up, seed=11) if args.warm_up else None
    if warm_up:
        print(f"each configuration's stack first processes {args.warm_up} other models, unmeasured (--warm-up)")
    # "one core" is CPU affinity (event loop and pool together on one core; the pool sizes itself
    # to it), not just one pool process beside an event loop on another core
    configs = [("1 worker, 1 core", [{"cpus": {cpu_ids[0]}}]), ("1 worker, all cores", [{}])]
    if not args.skip_two and cores >= 2:
        configs.append(("2 workers, 1 core each", [{"cpus": {cpu_ids[0]}}, {"cpus": {cpu_ids[1]}}]))
    # the serial baseline brackets every configuration (measured before the first, between each
    # two and after the last): this machine's speed drifts by 10-20 % over minutes, so each
    # configuration is compared with the work as measured next to it, not at the far ends
    baselines = [serial_cpu(models, args.workflow)]
    print(f"processors' own CPU, serial, before the runs        {baselines[0]:8.1f} s")
    results = {}
    for name, workers in configs:
        results[name] = run_pipeline(models, args.workflow, workers, log_dir, warm_up=warm_up)
        baselines.append(serial_cpu(models, args.workflow))
        print(f"processors' own CPU, serial, after {name:18s}{baselines[-1]:8.1f} s")
    pure_all = sum(baselines) / len(baselines)
    print(f"processors' own CPU, serial, mean {pure_all:.1f} s, ideal wall on {cores} cores {pure_all / cores:.1f} s")
    local = {}  # the work next to each configuration: the mean of the baselines around it
    for i, (name, workers) in enumerate(configs):
        pure = local[name] = (baselines[i] + baselines[i + 1]) / 2
        r = results[name]
        cpu = sum(r["cpu"])
        used = len(set().union(*(w["cpus"] for w in workers))) if all("cpus" in w for w in workers) else cores
        print(f"{name:34s} wall {r['wall']:7.1f} s  efficiency {pure / used / r['wall']:.2f} ({used} cores, pure {pure:.1f} s)  "
              f"worker CPU / pure {cpu / pure:.2f}  workers' CPU per model {cpu / max(r['runs'], 1) * 1000:.0f} ms  "
              f"stack CPU {sum(r['stack_cpu'].values()):.1f} s  ({r['runs']} runs, {r['failed']} failed)")
    for name, r in results.items():
        print(f"  {name}: the stack's CPU over the run: " + ", ".join(f"{k} {v:.1f} s" for k, v in r["stack_cpu"].items()))

    def speedup(name: str) -> str:
        """Wall ratio to the single-core run, and the same with each wall scaled by the work
        measured next to it (throughput at equal machine speed)."""
        one, other = results["1 worker, 1 core"]["wall"], results[name]["wall"]
        steady = (local[name] / other) / (local["1 worker, 1 core"] / one)
        return f"{one / other:.2f}x (at equal machine speed {steady:.2f}x)"
    print(f"1 worker all cores vs its single-core figure:    {speedup('1 worker, all cores')}")
    if "2 workers, 1 core each" in results:
        print(f"2 workers vs 1 (one core each):                  {speedup('2 workers, 1 core each')}")
    if args.tiny:
        tiny = tiny_models(args.tiny)
        # the orchestrator in its own consumer group: members of one group with different agent
        # sets fail to join (InconsistentGroupProtocolError) and the run never finishes
        r = run_pipeline(tiny, "minimal", [{"stages": "discovery,download,technical-metadata,thumbnails"},
                                          {"stages": "orchestrator",
                                           "env": {"MESHSTREAM_APP_ID": f"bench-orch-{uuid.uuid4().hex[:6]}"}}], log_dir)
        events = r["events"]  # every record on the contract topics: scan, discovered, requests, results, terminals
        ceiling = raw_ceiling()
        print(f"minimal workflow, {args.tiny} tiny models: {events / r['wall']:.0f} events/s "
              f"(raw consume->produce ceiling {ceiling:.0f}/s, ratio {events / r['wall'] / ceiling:.3f}); "
              f"orchestrator CPU {r['cpu'][1] / args.tiny * 1000:.1f} ms per model")
    print(f"worker logs: {log_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
