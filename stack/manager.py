"""`meshstream stack up|down|status`: the whole local stack, idempotently."""
from __future__ import annotations

from dataclasses import dataclass

from stack.config import StackConfig
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
    """Kafka, then the registry (which stores its schemas in Kafka), and S3 alongside."""

    def __init__(self, config: StackConfig | None = None):
        self.config = config or StackConfig()
        self.kafka = Kafka(self.config)
        self.registry = SchemaRegistry(self.config)
        self.s3 = S3Server(self.config)

    @property
    def services(self) -> tuple[Service, ...]:
        return (self.kafka, self.registry, self.s3)

    def up(self) -> list[str]:
        """Start whatever is not running and wait until all are ready; return what was started."""
        started = []
        for svc in (self.kafka, self.s3):  # independent: let them boot in parallel
            if svc.start():
                started.append(svc.name)
        self.kafka.wait()
        if self.registry.start():
            started.append(self.registry.name)
        self.registry.wait()
        self.s3.wait()
        return started

    def down(self) -> list[str]:
        """Stop the services this stack's pid files say it started; return their names."""
        return [svc.name for svc in (self.registry, self.s3, self.kafka) if svc.process.stop()]

    def status(self) -> list[ServiceStatus]:
        return [ServiceStatus(s.name, s.process.pid(), s.endpoint(), str(s.process.log_file)) for s in self.services]
