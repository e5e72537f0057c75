"""meshstream client for downstream Python services: publish scans, receive their outcomes.

    from meshstream_client import Publisher, Subscriber

    scan_id = Publisher().scan("models", "batch-7/")
    with Subscriber() as sub:                      # group "meshstream-python-client"
        for ev in sub.events(timeout=600):
            if ev.payload.scan_id == scan_id:
                print(ev.contract, ev.payload.name)

Contracts (topics, schemas, constraints, typed classes) are generated from the workers'
manifest into `meshstream_client.generated` by `meshstream contracts generate`; the package
depends only on confluent-kafka and fastavro. Errors: `meshstream_client.errors`.
"""
from meshstream_client._version import __version__
from meshstream_client.envelope import derived_id
from meshstream_client.errors import (AuthenticationFailed, BrokerUnavailable, ConfigurationError, ContractViolation,
                                      DecodeError, MeshstreamError, PublishRejected, RegistryRejected,
                                      RegistryUnavailable, TopicsMissing)
from meshstream_client.generated.contracts import CONTRACTS, DEAD_LETTERS, TERMINAL
from meshstream_client.publisher import Publisher
from meshstream_client.settings import Settings
from meshstream_client.subscriber import DEFAULT_GROUP, Received, Subscriber

__all__ = [
    "AuthenticationFailed", "BrokerUnavailable", "CONTRACTS", "ConfigurationError", "ContractViolation", "DEAD_LETTERS",
    "DEFAULT_GROUP", "DecodeError", "MeshstreamError", "Publisher", "PublishRejected", "Received", "RegistryRejected",
    "RegistryUnavailable", "Settings", "Subscriber", "TERMINAL", "TopicsMissing", "__version__", "derived_id",
]
