"""Every failure the client reports, as one family of exceptions.

A service catches `MeshstreamError` (or one of its kinds) and never sees a library's own error
type: the registry's HTTP client, librdkafka's `KafkaException` and fastavro's errors are
translated where they happen, with the original kept as `__cause__`. `retryable` says whether
trying again later can succeed without changing anything (a server was away) or not (the
request itself is wrong).
"""
from __future__ import annotations


class MeshstreamError(Exception):
    """Base of every error the client raises."""

    retryable = False


class ConfigurationError(MeshstreamError, ValueError):
    """Settings that cannot work (an unknown security protocol, SASL without credentials, ...)."""


class RegistryUnavailable(MeshstreamError):
    """The schema registry did not answer (refused, timed out, 5xx) within the client's timeout."""

    retryable = True


class RegistryRejected(MeshstreamError):
    """The registry answered no: a schema it will not accept under the subject's compatibility
    rule (409: the installed client is older or newer than the contracts the workers registered),
    or another 4xx answer."""


class AuthenticationFailed(MeshstreamError):
    """The broker (SASL) or the registry (HTTP 401/403) refused the configured credentials."""


class BrokerUnavailable(MeshstreamError):
    """No Kafka broker could be reached (or none acknowledged a record) within the timeout."""

    retryable = True


class PublishRejected(MeshstreamError):
    """The broker refused a record for good (too large, not authorised, unknown topic, ...)."""


class TopicsMissing(MeshstreamError):
    """The contracts' topics do not exist on the cluster yet: a meshstream worker creates them at
    start-up (`meshstream worker`), so a subscriber started before any worker meets this."""

    retryable = True

    def __init__(self, topics: list[str]):
        super().__init__(f"topics do not exist (has a meshstream worker started on this cluster?): {', '.join(topics)}")
        self.topics = topics


class ContractViolation(MeshstreamError, ValueError):
    """A value breaks its contract: an unknown contract or option, a record Avro cannot encode,
    or a declared constraint (`field` is the path, e.g. `payload.listing.title`)."""

    def __init__(self, field: str, reason: str, constraint: str | None = None):
        super().__init__(f"{field}: {reason}" if field else reason)
        self.field = field
        self.reason = reason
        self.constraint = constraint


class DecodeError(MeshstreamError):
    """A record is not an event of its topic's contract (bad framing, unknown schema id, a body
    that does not decode, a broken constraint). The subscriber skips such records and counts
    them; `code` is the same code the workers dead-letter them with."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
