"""What a failure means (streams/core/policy.py): the route of a record depends on it alone, so a
broker's passing state must read as transient (retried in place) and a bug as deterministic."""
from __future__ import annotations

import aiokafka.errors as ak
import pytest

from streams.core.policy import error_info


@pytest.mark.parametrize("exc", [
    ak.NotLeaderForPartitionError(),   # a produce that outlived a leader's move (the chaos test's lost runs)
    ak.LeaderNotAvailableError(),
    ak.NotEnoughReplicasError(),
    ak.RequestTimedOutError(),
    ak.KafkaConnectionError("connection lost"),
    ak.KafkaTimeoutError(),
])
def test_what_aiokafka_marks_retriable_or_a_timeout_is_a_transient_broker_failure(exc):
    info = error_info(exc)
    assert (info["code"], info["retryable"]) == ("broker_unavailable", True)


@pytest.mark.parametrize("exc", [ak.MessageSizeTooLargeError(), ak.ProducerClosed(), KeyError("payload")])
def test_what_a_retry_cannot_mend_is_deterministic(exc):
    info = error_info(exc)
    assert (info["code"], info["retryable"]) == ("internal_error", False)
