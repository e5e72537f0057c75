"""The Faust application: settings tuned for correctness and fast rebalances, agents attached.

One process runs every stage by default; `meshstream worker --stages a,b` runs a subset, and
more processes in the same consumer group (same app id) share the partitions: that is the
scale-out path, with tables partitioned alongside their topics.
"""
from __future__ import annotations

import importlib
import logging
from pathlib import Path

import faust

from streams.core.settings import Settings
from registry.manifest import default_manifest
from registry.serde import AvroSerde, registry_client
from streams.worker.runtime import Runtime
from streams.execution.catalog import processing_stages, work_module
from streams.worker.agents import agent_registrars
from streams.core.security import faust_broker_credentials
from streams.faust_ext.changelog_guard import ChangelogGuard
from streams.faust_ext.monitor import LeanMonitor
from streams.faust_ext.flow import StreamBuffersKept
from streams.worker.tables import KeyPartitionedTable, key_partitioner
from streams.faust_ext.transport import worker_transport

# agent name -> register(app, runtime), derived from the manifest (streams/worker/agents/)
AGENTS = agent_registrars(default_manifest())


STORES = {"memory": "memory://", "rocksdb": "rocksdb://"}


def table_store_url(settings: Settings) -> str:
    """Faust store URL for MESHSTREAM_TABLE_STORE; rocksdb uses the rocksdict driver."""
    try:
        return STORES[settings.table_store]
    except KeyError:
        raise ValueError(f"MESHSTREAM_TABLE_STORE={settings.table_store!r}: expected one of {', '.join(STORES)}") from None


def _datadir(settings: Settings) -> dict:
    """Where Faust keeps local state: RocksDB tables under MESHSTREAM_TABLE_DIR, otherwise
    MESHSTREAM_DATA_DIR/<app id> (never the working directory). Faust creates only the last
    path component itself."""
    if settings.table_store == "rocksdb":
        Path(settings.table_dir).mkdir(parents=True, exist_ok=True)
        return {"datadir": settings.table_dir}
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return {"datadir": f"{settings.data_dir}/{{conf.id}}"}


def check_producer_timeouts(settings: Settings) -> None:
    """Refuse a delivery timeout shorter than one request plus the linger (the Java client refuses
    the same): a record would expire before its first produce request could even time out."""
    floor = settings.producer_request_timeout + settings.producer_linger_ms / 1000.0
    if settings.producer_delivery_timeout < floor:
        raise ValueError(f"MESHSTREAM_PRODUCER_DELIVERY_TIMEOUT={settings.producer_delivery_timeout:g} s is shorter than "
                         f"MESHSTREAM_PRODUCER_REQUEST_TIMEOUT + MESHSTREAM_PRODUCER_LINGER_MS ({floor:g} s)")


def create_app(settings: Settings | None = None, stages: set[str] | None = None) -> tuple[faust.App, Runtime]:
    settings = settings or Settings()
    check_producer_timeouts(settings)
    manifest = default_manifest()
    session_ms = settings.session_timeout
    app = faust.App(
        settings.app_id,
        broker=[f"kafka://{hp.strip()}" for hp in settings.kafka_bootstrap.split(",") if hp.strip()],
        broker_credentials=faust_broker_credentials(settings),  # SASL_SSL / mTLS (streams/core/security.py)
        store=table_store_url(settings),        # memory (rebuilt from the changelog) or rocksdb
        **_datadir(settings),                   # never the working directory
        autodiscover=False,
        web_bind=settings.web_bind,
        web_port=settings.web_port or 6066,     # meshstream/web_port.py picks a free one first
        web_host="127.0.0.1" if settings.web_bind in ("127.0.0.1", "0.0.0.0") else settings.web_bind,
        topic_partitions=max(c.partitions for c in manifest.active),
        topic_replication_factor=settings.topic_replication or 1,  # streams.worker.main reads the cluster's
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=session_ms,
        broker_request_timeout=max(30.0, session_ms * 2),
        broker_heartbeat_interval=max(1.0, session_ms / 5),
        broker_commit_every=settings.commit_every,
        broker_commit_interval=settings.commit_interval,
        producer_acks=-1,
        # aiokafka's limit for every request of the producer's client (metadata and connection
        # handshakes too, not only produce requests): 30 s by default, the Java client's
        # request.timeout.ms, instead of Faust's 1200 s, so a request that gets no answer is sent
        # again soon; a record itself is retried for longer (the delivery timeout, given to the
        # transport below)
        producer_request_timeout=settings.producer_request_timeout,
        producer_linger=settings.producer_linger_ms / 1000.0,  # seconds (streams/core/settings.py)
        producer_partitioner=key_partitioner,   # Kafka's default partitioner, key hashes cached
        monitor=LeanMonitor(),                  # Faust's per-event stats, which nothing reads (streams/faust_ext/monitor.py)
        Table=KeyPartitionedTable,              # changelog partition from the key (streams/worker/tables.py)
        stream_wait_empty=False,
        table_standby_replicas=settings.standby_replicas,
        logging_config=None,
    )
    # before any stream buffer exists (each registers with it when made): see the module
    app.flow_control = StreamBuffersKept(app, loop=app.loop)
    app.sensors.add(ChangelogGuard(app))        # a lost changelog write ends the worker (streams/faust_ext/changelog_guard.py)
    # before anything reaches app.transport (declaring topics does): see the module
    app.transport = worker_transport(settings.fetch_min_bytes, settings.fetch_max_wait_ms, settings.fetch_busy_rate,
                                       settings.producer_delivery_timeout)(app.conf.broker_consumer, app)
    runtime = Runtime(app, settings, manifest, AvroSerde(registry_client(settings)))
    for stage, register in AGENTS.items():
        if stages is None or stage in stages:
            register(app, runtime)
    importlib.import_module("streams.worker.web").register(app, runtime)  # metrics, health, API, dashboard
    pooled = [work_module(s) for s in processing_stages(manifest) if stages is None or s in stages]
    if pooled:
        @app.task
        async def warm_pool() -> None:
            """Pool processes start with the worker, not on the first model (see ProcessorPool.warm)."""
            pool = await runtime.start_pool()
            pids = await pool.warm(pooled)
            logging.getLogger("meshstream").info("processor pool ready: %d processes %s", len(set(pids)), sorted(set(pids)))
    logging.getLogger("meshstream").setLevel(logging.INFO)
    return app, runtime
