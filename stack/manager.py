"""`meshstream stack up|down|status`: the whole local stack, idempotently."""
from __future__ import annotations

from dataclasses import dataclass

from stack.config import StackConfig
from stack.fetch import StackSetupError
from stack.services import Kafka, S3Server, SchemaRegistry, Service


@dataclass
class ServiceStatus:
    name: str
    pid: int | None
    endpoint: str
    log: str

    @property
    def running(self) -> bool:
        return self.pid is not None


class LocalStack:
    """Kafka (one broker, or a KRaft cluster of three), then the registry (which stores its
    schemas in Kafka), and S3 alongside."""

    def __init__(self, config: StackConfig | None = None):
        self.config = config or StackConfig()
        self.brokers = tuple(Kafka(self.config, node) for node in range(1, self.config.broker_count + 1))
        self.kafka = self.brokers[0]
        self.registry = SchemaRegistry(self.config)
        self.s3 = S3Server(self.config)

    @property
    def services(self) -> tuple[Service, ...]:
        return (*self.brokers, self.registry, self.s3)

    def up(self) -> list[str]:
        """Start whatever is not running and wait until all are ready; return what was started."""
        self._record_brokers()
        started = []
        for svc in (*self.brokers, self.s3):  # independent: let them boot in parallel
            if svc.start():
                started.append(svc.name)
        for broker in self.brokers:
            broker.wait()
        if self.registry.start():
            started.append(self.registry.name)
        self.registry.wait()
        self.s3.wait()
        return started

    def _record_brokers(self) -> None:
        """A data dir keeps its broker count: `stack status`/`down`/`env` find every broker, and a
        formatted cluster is never restarted with a different quorum."""
        record = self.config.data_dir / "brokers"
        if record.exists() and int(record.read_text()) != len(self.brokers):
            raise StackSetupError(f"{self.config.data_dir} holds a {record.read_text().strip()}-broker cluster; "
                                  f"`stack down` and remove it, or use another --data-dir, for {len(self.brokers)}")
        record.parent.mkdir(parents=True, exist_ok=True)
        record.write_text(str(len(self.brokers)))

    def down(self) -> list[str]:
        """Stop the services this stack's pid files say it started; return their names. The
        brokers stop together: one by one, the last would wait out its shutdown timeout for a
        quorum that had already left."""
        from concurrent.futures import ThreadPoolExecutor

        stopped = [svc.name for svc in (self.registry, self.s3) if svc.process.stop()]
        with ThreadPoolExecutor(len(self.brokers)) as pool:
            done = list(pool.map(lambda b: b.process.stop(), self.brokers))
        return stopped + [b.name for b, ok in zip(self.brokers, done) if ok]

    def status(self) -> list[ServiceStatus]:
        return [ServiceStatus(s.name, s.process.pid(), s.endpoint(), str(s.process.log_file)) for s in self.services]
