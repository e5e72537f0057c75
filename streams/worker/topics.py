"""Kafka topics derived from the manifest, and their creation with the right partition count.

Agents consume raw bytes and decode themselves (streams.guard) so an undecodable record becomes
a dead letter instead of an exception inside Faust's consumer.
"""
from __future__ import annotations

from confluent_kafka.admin import AdminClient, NewTopic

from registry.manifest import Contract, Manifest


def faust_topic(app, *contracts: Contract):
    """One Faust topic (possibly over several Kafka topics) for the given contracts."""
    partitions = {c.partitions for c in contracts}
    if len(partitions) != 1:
        raise ValueError(f"co-consumed topics must share a partition count: {[(c.topic, c.partitions) for c in contracts]}")
    return app.topic(*(c.topic for c in contracts), key_type=bytes, value_type=bytes,
                     key_serializer="raw", value_serializer="raw", partitions=partitions.pop())


def ensure_topics(bootstrap: str | dict, manifest: Manifest, timeout: float = 30.0) -> list[str]:
    """Create every active contract's topic that does not exist yet; return those created.
    `bootstrap`: servers, or a whole client config (streams.core.security.kafka_client_config)."""
    admin = AdminClient(bootstrap if isinstance(bootstrap, dict) else {"bootstrap.servers": bootstrap})
    existing = admin.list_topics(timeout=timeout).topics
    # replication_factor -1: the cluster's default.replication.factor (3 on a three-broker stack)
    wanted = [NewTopic(c.topic, num_partitions=c.partitions, replication_factor=-1)
              for c in manifest.active if c.topic not in existing]
    created = []
    if wanted:
        for topic, future in admin.create_topics(wanted, operation_timeout=timeout).items():
            try:
                future.result()
                created.append(topic)
            except Exception as exc:  # a concurrent creator is fine; anything else is not
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
    return created


def cluster_replication_factor(client_config: dict, timeout: float = 30.0) -> int:
    """The cluster's default.replication.factor, read from a broker: Faust creates its changelog
    topics itself with an explicit factor (its CreateTopics request predates "-1 = broker default")."""
    from confluent_kafka.admin import ConfigResource

    admin = AdminClient(client_config)
    broker = min(admin.list_topics(timeout=timeout).brokers)
    resource = ConfigResource(ConfigResource.Type.BROKER, str(broker))
    configs = admin.describe_configs([resource])[resource].result(timeout=timeout)
    return int(configs["default.replication.factor"].value)
