"""Runtime settings for workers and CLI, from MESHSTREAM_* environment variables.

The names are the ones `meshstream stack env` prints and docker-compose.yml sets, so a worker
finds the local stack, a test's private stack or a production cluster the same way.
"""
from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields


@dataclass(frozen=True)
class StorageConnection:
    """An S3 endpoint and its credentials, known to workers by name; events carry only the name."""

    name: str
    endpoint: str
    access_key: str
    secret_key: str = field(repr=False)
    secure: bool = False
    ca_location: str | None = None  # custom CA bundle for S3 over TLS


# Named storage connections: MESHSTREAM_STORAGE_<NAME>_<PART> (see Settings.storage).
STORAGE_ENV = re.compile(r"^MESHSTREAM_STORAGE_[A-Z0-9_]+?_(ENDPOINT|ACCESS_KEY|SECRET_KEY|SECRET_KEY_FILE|SECURE|CA_LOCATION)$")


class UnknownStorageError(LookupError):
    """An event names a storage connection this worker is not configured for."""

    code = "unknown_storage"
    retryable = False


def _bool(text: str) -> bool:
    return text.lower() == "true"


def read_variable(env: Mapping[str, str], name: str, default: str | None = None, cast=str, secret: bool = False):
    """One MESHSTREAM_* variable from `env`, cast; a `secret` may instead sit in the file named by
    `<name>_FILE` (Docker/Kubernetes secrets), so it need not be in the environment. The one
    reader of variables: Settings' fields and named storage connections both use it."""
    raw = env.get(name)
    if not raw and secret and env.get(name + "_FILE"):
        with open(env[name + "_FILE"], encoding="utf-8") as fh:
            raw = fh.read().strip()
    raw = raw or default
    return None if raw is None else cast(raw)


def _setting(name: str, default: str | None, cast=str, secret: bool = False):
    """A field read from environment variable `name`; the name is kept in the field's metadata so
    `Settings.from_env` can read the same variables from any mapping. A secret is left out of
    repr() so it never reaches a log line."""

    def read(env: Mapping[str, str] = os.environ):
        return read_variable(env, name, default, cast, secret)

    return field(default_factory=read, repr=not secret, metadata={"read": read, "env": name, "secret": secret})


@dataclass(frozen=True)
class Settings:
    kafka_bootstrap: str = _setting("MESHSTREAM_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
    # Kafka transport security, for every client (streams/core/security.py): PLAINTEXT, SSL, SASL_SSL...
    kafka_security_protocol: str = _setting("MESHSTREAM_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT", str.upper)
    kafka_sasl_mechanism: str = _setting("MESHSTREAM_KAFKA_SASL_MECHANISM", "SCRAM-SHA-512", str.upper)
    kafka_sasl_username: str | None = _setting("MESHSTREAM_KAFKA_SASL_USERNAME", None)
    kafka_sasl_password: str | None = _setting("MESHSTREAM_KAFKA_SASL_PASSWORD", None, secret=True)
    kafka_ssl_ca_location: str | None = _setting("MESHSTREAM_KAFKA_SSL_CA_LOCATION", None)
    kafka_ssl_certificate_location: str | None = _setting("MESHSTREAM_KAFKA_SSL_CERTIFICATE_LOCATION", None)  # mTLS
    kafka_ssl_key_location: str | None = _setting("MESHSTREAM_KAFKA_SSL_KEY_LOCATION", None)
    kafka_ssl_key_password: str | None = _setting("MESHSTREAM_KAFKA_SSL_KEY_PASSWORD", None, secret=True)
    registry_url: str = _setting("MESHSTREAM_SCHEMA_REGISTRY_URL", "http://127.0.0.1:8081/apis/ccompat/v7")
    registry_user: str | None = _setting("MESHSTREAM_SCHEMA_REGISTRY_USER", None)
    registry_password: str | None = _setting("MESHSTREAM_SCHEMA_REGISTRY_PASSWORD", None, secret=True)
    registry_ca_location: str | None = _setting("MESHSTREAM_SCHEMA_REGISTRY_CA_LOCATION", None)
    s3_endpoint: str = _setting("MESHSTREAM_S3_ENDPOINT", "127.0.0.1:8333")
    s3_access_key: str = _setting("MESHSTREAM_S3_ACCESS_KEY", "meshstream")
    s3_secret_key: str = _setting("MESHSTREAM_S3_SECRET_KEY", "meshstream-secret", secret=True)
    s3_secure: bool = _setting("MESHSTREAM_S3_SECURE", "false", _bool)
    s3_ca_location: str | None = _setting("MESHSTREAM_S3_CA_LOCATION", None)  # custom CA for S3 over TLS
    results_bucket: str = _setting("MESHSTREAM_RESULTS_BUCKET", "meshstream-results")
    cache_bucket: str = _setting("MESHSTREAM_CACHE_BUCKET", "meshstream-cache")
    app_id: str = _setting("MESHSTREAM_APP_ID", "meshstream")
    # replicas of the topics Faust creates (table changelogs); unset: the cluster's
    # default.replication.factor, read when the worker starts
    topic_replication: int | None = _setting("MESHSTREAM_TOPIC_REPLICATION", None, int)
    # the HTTP API/metrics port; unset, a worker takes the first free port of web_ports (several
    # workers on one host: 6066, 6067, ...) and reports it in its log, /health and `status`
    web_port: int | None = _setting("MESHSTREAM_WEB_PORT", None, int)
    web_ports: str = _setting("MESHSTREAM_WEB_PORTS", "6066-6165")
    web_bind: str = _setting("MESHSTREAM_WEB_BIND", "127.0.0.1")   # the HTTP API/metrics address
    api_token: str | None = _setting("MESHSTREAM_API_TOKEN", None)  # bearer token for API writes
    api_url: str = _setting("MESHSTREAM_API_URL", "http://127.0.0.1:6066")  # where the CLI finds a worker's API
    max_object_bytes: int = _setting("MESHSTREAM_MAX_OBJECT_BYTES", str(256 * 1024 * 1024), int)
    timeout_check_seconds: float = _setting("MESHSTREAM_TIMEOUT_CHECK_SECONDS", "5", float)
    # caps every step's timeout_seconds from workflows.yaml (an operator's knob; tests use it)
    step_timeout_cap: float | None = _setting("MESHSTREAM_STEP_TIMEOUT_CAP", None, float)
    # caps every step's queue timeout (schedule-to-start; workflows.yaml queue_timeout_seconds)
    queue_timeout_cap: float | None = _setting("MESHSTREAM_QUEUE_TIMEOUT_CAP", None, float)
    # how often a stage reports that it is still working on a step (ADR 0012)
    heartbeat_seconds: float = _setting("MESHSTREAM_HEARTBEAT_SECONDS", "5", float)
    # requests per stage one orchestrator keeps queued (sent, not started); unset: one per processor of this worker
    admission_per_stage: int | None = _setting("MESHSTREAM_ADMISSION_PER_STAGE", None, int)
    # unless that is set: stages with short steps may queue up to this many seconds of their
    # measured work per processor (up to 16 per processor), so the processes never wait for the
    # next request's round trip (streams/orchestration/admission.py, ADR 0012); 0 turns it off
    admission_queue_seconds: float = _setting("MESHSTREAM_ADMISSION_QUEUE_SECONDS", "0.5", float)
    session_timeout: float = _setting("MESHSTREAM_SESSION_TIMEOUT", "10", float)
    # how long a record that meets a transient failure (registry, storage, broker down) is tried
    # again in place before it is dead-lettered anyway (streams.core.policy)
    transient_retry_seconds: float = _setting("MESHSTREAM_TRANSIENT_RETRY_SECONDS", "600", float)
    # where Faust keeps its local state (table stores); never inside the repository
    data_dir: str = _setting("MESHSTREAM_DATA_DIR", ".meshstream/worker-data")
    # processes in a worker's processor pool (default: one per core) and requests each stage
    # agent handles at once (default: the pool size)
    processor_processes: int | None = _setting("MESHSTREAM_PROCESSOR_PROCESSES", None, int)
    # steps each pool process runs at once, in threads that take turns at computing: a step
    # waiting on an S3 round trip leaves the process's core to another (streams/execution/turns.py);
    # 1 runs steps strictly one after another
    processor_slots: int = _setting("MESHSTREAM_PROCESSOR_SLOTS", "2", int)
    # how pool processes start: forkserver (the stage modules imported once, each process a fork
    # of that; ADR 0005 amendment) or spawn (each process imports them itself: where forkserver
    # is unavailable, and bench/worker_start.py's baseline)
    pool_start_method: str = _setting("MESHSTREAM_POOL_START_METHOD", "forkserver")
    stage_concurrency: int | None = _setting("MESHSTREAM_STAGE_CONCURRENCY", None, int)
    # stream consumer fetches (streams/faust_ext/transport.py): while more than FETCH_BUSY_RATE records a
    # second arrive, the broker answers when FETCH_MIN_BYTES are ready or after FETCH_MAX_WAIT_MS
    # (fewer, fuller fetches); below that rate each fetch returns at the first record (no added
    # latency for a quiet pipeline); 0 turns batching off
    fetch_min_bytes: int = _setting("MESHSTREAM_FETCH_MIN_BYTES", str(64 * 1024), int)
    # 50 ms, not the Java client's 500: admission control keeps a stage's topic short on purpose, so
    # a busy worker's fetch seldom fills FETCH_MIN_BYTES and would wait out the whole bound on
    # every hop (ADR 0006 amendment: a 300-model batch took 100 s instead of 11 under churn)
    fetch_max_wait_ms: int = _setting("MESHSTREAM_FETCH_MAX_WAIT_MS", "50", int)
    fetch_busy_rate: float = _setting("MESHSTREAM_FETCH_BUSY_RATE", "20", float)
    # consumed offsets are committed every COMMIT_INTERVAL seconds or after COMMIT_EVERY acked
    # records, whichever comes first: what a crashed worker's successor reads again (harmless:
    # every output has a deterministic event id and the orchestrator ignores repeats). Faust
    # flushes the producer before every commit, so frequent commits stall the event path: with
    # 1 s / 50 the orchestrator used 0.063-0.070 of the stage worker's CPU on the minimal
    # workflow, with 2.8 s (Faust's default) / 1000 0.053-0.057 (4.3 ms per model)
    # a produced record waits up to PRODUCER_LINGER_MS for others to the same partition, so one
    # produce request carries them all: a stage's answer, the run-table changelog write and the
    # next requests of one batch. With 0 (Faust's default) each record was its own request; 5 ms
    # cut the broker's CPU per 40-model complete batch from 1.09-1.21 s to 0.85-0.88 s and the
    # worker's from 7.2-8.0 to 6.8-7.2 s, for at most 5 ms more per hop
    producer_linger_ms: int = _setting("MESHSTREAM_PRODUCER_LINGER_MS", "5", int)
    # the worker's producer, as the Java client's request.timeout.ms and delivery.timeout.ms:
    # seconds one request (produce, metadata, a connection's handshake) may go unanswered before
    # it is sent again, and seconds a record is retried before its send fails (a broker fail-over
    # must fit in it; a lost table changelog write ends the worker, streams/faust_ext/changelog_guard.py)
    producer_request_timeout: float = _setting("MESHSTREAM_PRODUCER_REQUEST_TIMEOUT", "30", float)
    producer_delivery_timeout: float = _setting("MESHSTREAM_PRODUCER_DELIVERY_TIMEOUT", "1200", float)
    commit_interval: float = _setting("MESHSTREAM_COMMIT_INTERVAL", "2.8", float)
    commit_every: int = _setting("MESHSTREAM_COMMIT_EVERY", "1000", int)
    # the most events the orchestrator takes at once from those already received (one produce
    # request and one ack wait for all of them; a run's events stay in order: streams/faust_ext/batches.py)
    orchestrator_batch: int = _setting("MESHSTREAM_ORCHESTRATOR_BATCH", "256", int)
    # finished runs leave the run table after this long (their terminal events stay on the topics)
    run_retention_seconds: float = _setting("MESHSTREAM_RUN_RETENTION_SECONDS", str(7 * 24 * 3600), float)
    # Table store: "memory" (rebuilt from the changelog at start) or "rocksdb" (rocksdict, kept on
    # disk under table_dir, so a restart reads only the changelog tail); standby replicas keep
    # warm copies of other workers' partitions for fast fail-over.
    table_store: str = _setting("MESHSTREAM_TABLE_STORE", "memory", str.lower)
    table_dir: str = _setting("MESHSTREAM_TABLE_DIR", ".meshstream/tables")
    standby_replicas: int = _setting("MESHSTREAM_STANDBY_REPLICAS", "0", int)
    # Publisher spool (streams/client/spool.py): where records wait while the broker is unreachable,
    # its bounds, and how long a publish waits for the broker before leaving the record spooled.
    spool_dir: str = _setting("MESHSTREAM_SPOOL_DIR", os.path.join(
        os.environ.get("XDG_STATE_HOME") or os.path.expanduser("~/.local/state"), "meshstream", "spool"))
    spool_max_records: int = _setting("MESHSTREAM_SPOOL_MAX_RECORDS", "10000", int)
    spool_max_bytes: int = _setting("MESHSTREAM_SPOOL_MAX_BYTES", str(64 * 1024 * 1024), int)
    publish_timeout: float = _setting("MESHSTREAM_PUBLISH_TIMEOUT", "10", float)

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> "Settings":
        """Settings as a process whose environment is ours plus `env` would read them
        (e.g. `Settings.from_env(StackConfig().client_env())`)."""
        merged = {**os.environ, **env}
        return cls(**{f.name: f.metadata["read"](merged) for f in fields(cls)})

    @classmethod
    def env_names(cls) -> frozenset[str]:
        """Every MESHSTREAM_* variable a Settings field reads, with the `_FILE` variants of
        secrets (docker-compose.yml is checked against it)."""
        names = {f.metadata["env"] for f in fields(cls)}
        return frozenset(names | {f.metadata["env"] + "_FILE" for f in fields(cls) if f.metadata["secret"]})

    def secrets(self) -> list[str]:
        """The secret values in effect (to scan logs and events for: they must never appear)."""
        return [v for f in fields(self) if f.metadata["secret"] and (v := getattr(self, f.name))]

    def registry_config(self) -> dict[str, str]:
        """Config for confluent_kafka.schema_registry.SchemaRegistryClient."""
        conf = {"url": self.registry_url}
        if self.registry_ca_location:
            conf["ssl.ca.location"] = self.registry_ca_location
        if self.registry_user:
            conf["basic.auth.user.info"] = f"{self.registry_user}:{self.registry_password or ''}"
        return conf

    def storage(self, name: str) -> StorageConnection:
        """Resolve a storage connection name from an event. `default` is MESHSTREAM_S3_*;
        others come from MESHSTREAM_STORAGE_<NAME>_{ENDPOINT,ACCESS_KEY,SECRET_KEY[_FILE],SECURE,CA_LOCATION}."""
        if name == "default":
            return StorageConnection(name, self.s3_endpoint, self.s3_access_key, self.s3_secret_key, self.s3_secure,
                                     self.s3_ca_location)
        prefix = f"MESHSTREAM_STORAGE_{name.upper().replace('-', '_')}_"
        env = os.environ
        endpoint = read_variable(env, prefix + "ENDPOINT")
        if not endpoint:
            raise UnknownStorageError(f"unknown storage connection {name!r}: set {prefix}ENDPOINT (and keys) on the workers")
        return StorageConnection(name, endpoint, read_variable(env, prefix + "ACCESS_KEY", ""),
                                 read_variable(env, prefix + "SECRET_KEY", "", secret=True),
                                 read_variable(env, prefix + "SECURE", "false", _bool),
                                 read_variable(env, prefix + "CA_LOCATION"))
