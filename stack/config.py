"""Where the stack lives and which loopback ports it uses.

Every value can be overridden by a MESHSTREAM_* environment variable so tests can run a private
stack on free ports beside a developer's own. The same names configure the workers
(`streams.core.settings`) and docker-compose.yml.
"""
from __future__ import annotations

import os
import random
import socket
from dataclasses import dataclass, field, replace
from pathlib import Path

HOST = "127.0.0.1"  # the stack never binds anything but loopback
MAX_BROKERS = 3


def _env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


def default_cache_dir() -> Path:
    """Downloaded jars are cached outside the repo and shared by every checkout."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(os.environ.get("MESHSTREAM_CACHE_DIR", Path(base) / "meshstream"))


@dataclass(frozen=True)
class Ports:
    kafka: int = 9092
    kafka_controller: int = 9093
    kafka_sasl: int = 9094  # the SASL_SSL listener, when the stack runs with kafka_security="sasl_ssl"
    # brokers 2 and 3 of a `stack up --brokers 3` cluster (each a broker and a KRaft voter)
    kafka_2: int = 9192
    kafka_controller_2: int = 9193
    kafka_3: int = 9292
    kafka_controller_3: int = 9293
    registry: int = 8081
    s3: int = 8333
    # SeaweedFS's internal servers (each also opens port + 10000 for gRPC).
    seaweed_master: int = 9333
    seaweed_volume: int = 8089
    seaweed_filer: int = 8888
    seaweed_iceberg: int = 8181
    seaweed_lance: int = 9101
    seaweed_metrics: int = 9327

    @classmethod
    def from_env(cls) -> "Ports":
        d = cls()
        return cls(**{name: _env_int(f"MESHSTREAM_PORT_{name.upper()}", getattr(d, name))
                      for name in d.__dataclass_fields__})

    @classmethod
    def free(cls) -> "Ports":
        """Free ports (and a free port+10000 for SeaweedFS's gRPC twins), for tests: see free_port."""
        chosen: set[int] = set()

        def pick(grpc_twin: bool = False) -> int:
            while True:
                port = free_port(twin_offset=10000 if grpc_twin else None)
                if port in chosen or (grpc_twin and port + 10000 in chosen):
                    continue
                chosen.add(port)
                if grpc_twin:
                    chosen.add(port + 10000)
                return port

        fields = cls.__dataclass_fields__
        twins = {"s3", "seaweed_master", "seaweed_volume", "seaweed_filer"}
        return cls(**{name: pick(grpc_twin=name in twins) for name in fields})

    def broker(self, node: int) -> tuple[int, int]:
        """(client port, controller port) of broker `node` (1-based)."""
        if node == 1:
            return self.kafka, self.kafka_controller
        if node not in (2, 3):
            raise ValueError(f"the local stack runs 1 to {MAX_BROKERS} brokers, not {node}")
        return getattr(self, f"kafka_{node}"), getattr(self, f"kafka_controller_{node}")


def ephemeral_ports() -> range:
    """The ports the kernel hands out to outgoing connections (Linux; its default elsewhere)."""
    try:
        low, high = map(int, Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
    except (OSError, ValueError):
        low, high = 32768, 60999
    return range(low, high + 1)


def free_port(twin_offset: int | None = None) -> int:
    """A loopback port free now, outside the kernel's ephemeral range (with `twin_offset`: one
    whose port + twin_offset is free and outside it too, for SeaweedFS's gRPC twins).

    A port the kernel picks (bind to 0) is an ephemeral one, and so is the local port of every
    outgoing connection: between choosing it and the server binding it (seconds for a Kafka
    broker, and the whole time a killed broker is down in the chaos tests), a client's connection
    could take it ("Address already in use", seen in CI). Ports outside that range are taken only
    by someone binding them on purpose."""
    taken = ephemeral_ports()
    offset = twin_offset or 0
    candidates = [p for p in range(10000, 65536 - offset)
                  if p not in taken and (twin_offset is None or p + offset not in taken)]
    rng = random.SystemRandom()
    for _ in range(1000):
        port = rng.choice(candidates)
        if _port_free(port) and (twin_offset is None or _port_free(port + offset)):
            return port
    raise RuntimeError(f"no free loopback port outside the ephemeral range {taken}")


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


@dataclass(frozen=True)
class StackConfig:
    data_dir: Path = field(default_factory=lambda: Path(os.environ.get("MESHSTREAM_STACK_DIR", ".meshstream/stack")).resolve())
    cache_dir: Path = field(default_factory=default_cache_dir)
    ports: Ports = field(default_factory=Ports.from_env)
    s3_access_key: str = field(default_factory=lambda: os.environ.get("MESHSTREAM_S3_ACCESS_KEY", "meshstream"))
    s3_secret_key: str = field(default_factory=lambda: os.environ.get("MESHSTREAM_S3_SECRET_KEY", "meshstream-secret"))
    # "plaintext", or "sasl_ssl": clients get a SCRAM-SHA-512 + mTLS listener with a generated CA
    # (the registry keeps the internal plaintext listener on loopback)
    kafka_security: str = field(default_factory=lambda: os.environ.get("MESHSTREAM_STACK_KAFKA_SECURITY", "plaintext"))
    # Kafka brokers: 1, or 3 (KRaft quorum of three, replication factor 3, min.insync.replicas 2);
    # 0 = what this data dir was started with (recorded by `stack up`), else 1
    brokers: int = field(default_factory=lambda: _env_int("MESHSTREAM_STACK_BROKERS", 0))
    kafka_heap: str = "512m"
    registry_heap: str = "384m"
    # The local JVMs compile with C1 only. A fresh broker's C2 compiler threads were half of
    # Kafka's CPU while a pipeline ran on it (minimal workflow, 200 models: 4.2-4.3 s with the
    # default tiered compiler, 2.1-2.5 s with C1 only), CPU taken from the processors on a small
    # machine; C1 code is fast enough for one developer's or one test's traffic. The compose
    # stack, long-lived, keeps the JVM defaults.
    jvm_jit: tuple[str, ...] = ("-XX:TieredStopAtLevel=1",)
    # Cores the local S3 server's Go runtime runs on (GOMAXPROCS; 0 = every core). With more than
    # one, Go's idle processors spin looking for work each time a request wakes the server: 0.64x
    # the CPU per serial request on one core of two (bench/s3_server_cores.py; figures in
    # docs/stack.md). One core serves about a thousand PUTs a second, more than a local stack's
    # workers ask; the compose stack keeps Go's default.
    s3_cores: int = field(default_factory=lambda: _env_int("MESHSTREAM_STACK_S3_CORES", 1))

    @property
    def logs_dir(self) -> Path:
        return self.data_dir / "logs"

    @property
    def broker_count(self) -> int:
        """The brokers asked for, else those this data dir was started with, else 1."""
        if self.brokers:
            if not 1 <= self.brokers <= MAX_BROKERS:
                raise ValueError(f"brokers: 1 to {MAX_BROKERS}, not {self.brokers}")
            return self.brokers
        try:
            return int((self.data_dir / "brokers").read_text())
        except (OSError, ValueError):
            return 1

    @property
    def replication_factor(self) -> int:
        """Topics' replicas: every broker, up to three."""
        return min(3, self.broker_count)

    @property
    def min_insync_replicas(self) -> int:
        """Two of three replicas must have a write before it is acknowledged (acks=all); a
        single-broker stack can only ask for one."""
        return 2 if self.broker_count >= 3 else 1

    @property
    def kafka_bootstrap(self) -> str:
        """Every broker, so a client starting while one is down still finds the cluster."""
        return ",".join(f"{HOST}:{self.ports.broker(n)[0]}" for n in range(1, self.broker_count + 1))

    @property
    def registry_url(self) -> str:
        return f"http://{HOST}:{self.ports.registry}/apis/ccompat/v7"

    @property
    def s3_endpoint(self) -> str:
        return f"{HOST}:{self.ports.s3}"

    @property
    def tls_dir(self) -> Path:
        return self.data_dir / "tls"

    def kafka_client_env(self) -> dict[str, str]:
        """How clients reach Kafka: the plaintext listener, or the SASL_SSL one with mTLS (the
        password travels as a file name, never as a value)."""
        if self.kafka_security != "sasl_ssl":
            return {"MESHSTREAM_KAFKA_BOOTSTRAP": self.kafka_bootstrap}
        from stack.tls import TlsFiles

        tls = TlsFiles(self.tls_dir)
        return {"MESHSTREAM_KAFKA_BOOTSTRAP": f"{HOST}:{self.ports.kafka_sasl}",
                "MESHSTREAM_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "MESHSTREAM_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "MESHSTREAM_KAFKA_SASL_USERNAME": "meshstream",
                "MESHSTREAM_KAFKA_SASL_PASSWORD_FILE": str(tls.scram_password),
                "MESHSTREAM_KAFKA_SSL_CA_LOCATION": str(tls.ca),
                "MESHSTREAM_KAFKA_SSL_CERTIFICATE_LOCATION": str(tls.client_cert),
                "MESHSTREAM_KAFKA_SSL_KEY_LOCATION": str(tls.client_key)}

    def client_env(self) -> dict[str, str]:
        """The environment a worker or CLI needs to talk to this stack (see streams.core.settings)."""
        return {
            **self.kafka_client_env(),
            "MESHSTREAM_SCHEMA_REGISTRY_URL": self.registry_url,
            "MESHSTREAM_S3_ENDPOINT": self.s3_endpoint,
            "MESHSTREAM_S3_ACCESS_KEY": self.s3_access_key,
            "MESHSTREAM_S3_SECRET_KEY": self.s3_secret_key,
            # the publisher spool of this stack lives with its data, not in the user's home
            "MESHSTREAM_SPOOL_DIR": str(self.data_dir / "spool"),
        }

    def with_free_ports(self, data_dir: Path) -> "StackConfig":
        return replace(self, data_dir=Path(data_dir).resolve(), ports=Ports.free())
