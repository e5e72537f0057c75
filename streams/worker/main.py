"""Start a worker process: register contracts, create topics, run the Faust agents."""
from __future__ import annotations

import logging
from dataclasses import replace

from streams.core.settings import Settings
from registry.manifest import default_manifest
from registry.registration import ensure_registered
from registry.workflows import WORKFLOWS_PATH, WorkflowError, validate_workflows
from registry.serde import registry_client
from streams.worker.app import create_app
from streams.core.security import kafka_client_config
from streams.worker.topics import cluster_replication_factor, ensure_topics


def prepare(settings: Settings) -> None:
    """Idempotent start-up: workflows validated, subjects registered with their compatibility, topics created with
    the manifest's partition counts (the tables co-partition on them)."""
    manifest = default_manifest()
    problems = validate_workflows(WORKFLOWS_PATH, manifest)
    if problems:  # the same check as `contracts check`: a bad workflows.yaml never starts a worker
        raise WorkflowError("schemas/workflows.yaml: " + "; ".join(problems))
    ensure_registered(registry_client(settings), manifest)
    ensure_topics(kafka_client_config(settings), manifest)


def run_worker(settings: Settings | None = None, stages: set[str] | None = None, loglevel: str = "info") -> None:
    import faust

    settings = settings or Settings()
    prepare(settings)
    if settings.topic_replication is None:  # Faust's changelogs replicated like every other topic
        settings = replace(settings, topic_replication=cluster_replication_factor(kafka_client_config(settings)))
    app, runtime = create_app(settings, stages)
    logging.basicConfig(level=loglevel.upper(), format="%(asctime)s %(levelname)s %(name)s %(message)s")
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    try:
        worker.execute_from_commandline()  # returns by SystemExit once the agents have stopped
    finally:
        runtime.pool.terminate()  # do not wait for pool work nobody can publish any more
