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

from streams.settings import Settings
from registry.manifest import default_manifest
from registry.serde import AvroSerde, registry_client
from streams.runtime import Runtime
from streams.stages import agent_modules, processing_stages

# Agent modules, each with register(app, runtime): agent name -> module (derived from the manifest).
AGENT_MODULES = agent_modules(default_manifest())


def create_app(settings: Settings | None = None, stages: set[str] | None = None) -> tuple[faust.App, Runtime]:
    settings = settings or Settings()
    manifest = default_manifest()
    session_ms = settings.session_timeout
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)  # Faust creates only the last level
    app = faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",                      # tables live in memory, rebuilt from their changelog
        datadir=f"{settings.data_dir}/{{conf.id}}",  # not the working directory
        autodiscover=False,
        web_bind=settings.web_bind,
        web_port=settings.web_port,
        web_host="127.0.0.1" if settings.web_bind in ("127.0.0.1", "0.0.0.0") else settings.web_bind,
        topic_partitions=max(c.partitions for c in manifest.active),
        topic_replication_factor=1,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=session_ms,
        broker_request_timeout=max(30.0, session_ms * 2),
        broker_heartbeat_interval=max(1.0, session_ms / 5),
        broker_commit_every=50,
        broker_commit_interval=1.0,
        producer_acks=-1,
        stream_wait_empty=False,
        table_standby_replicas=0,
        logging_config=None,
    )
    runtime = Runtime(app, settings, manifest, AvroSerde(registry_client(settings)))
    for stage, module in AGENT_MODULES.items():
        if stages is None or stage in stages:
            importlib.import_module(module).register(app, runtime)
    importlib.import_module("streams.web").register(app, runtime)  # metrics, health, API, dashboard
    pooled = [m for s, m in AGENT_MODULES.items() if (stages is None or s in stages) and s in processing_stages(manifest)]
    if pooled:
        @app.task
        async def warm_pool() -> None:
            """Pool processes start with the worker, not on the first model (see ProcessorPool.warm)."""
            pids = await runtime.pool.warm(pooled)
            logging.getLogger("meshstream").info("processor pool ready: %d processes %s", len(set(pids)), sorted(set(pids)))
    logging.getLogger("meshstream").setLevel(logging.INFO)
    return app, runtime
