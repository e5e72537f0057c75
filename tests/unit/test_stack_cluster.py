"""`stack up --brokers 3`: one KRaft quorum of three, topics replicated three ways with two
in-sync replicas required, and a data dir that remembers its broker count."""
from __future__ import annotations

from dataclasses import replace

import pytest

from stack.config import StackConfig
from stack.fetch import StackSetupError
from stack.manager import LocalStack
from stack.services import Kafka


def test_three_brokers_form_one_quorum_with_their_own_ports(tmp_path):
    config = replace(StackConfig().with_free_ports(tmp_path), brokers=3)
    props = [Kafka(config, node).server_properties() for node in (1, 2, 3)]
    ports = [config.ports.broker(n) for n in (1, 2, 3)]
    voters = ",".join(f"{n}@127.0.0.1:{ports[n - 1][1]}" for n in (1, 2, 3))
    assert {p["controller.quorum.voters"] for p in props} == {voters}
    assert [p["listeners"] for p in props] == [
        f"PLAINTEXT://127.0.0.1:{c},CONTROLLER://127.0.0.1:{k}" for c, k in ports]
    assert {(p["default.replication.factor"], p["min.insync.replicas"], p["offsets.topic.replication.factor"])
            for p in props} == {("3", "2", "3")}
    assert config.kafka_bootstrap == ",".join(f"127.0.0.1:{c}" for c, _ in ports)
    assert len({p["log.dirs"] for p in props}) == 3


def test_a_single_broker_keeps_replication_one(tmp_path):
    props = Kafka(StackConfig().with_free_ports(tmp_path)).server_properties()
    assert (props["default.replication.factor"], props["min.insync.replicas"]) == ("1", "1")


def test_the_data_dir_remembers_its_broker_count(tmp_path):
    three = LocalStack(replace(StackConfig().with_free_ports(tmp_path), brokers=3))
    three._record_brokers()
    again = LocalStack(replace(three.config, brokers=0))   # `stack status` without --brokers
    assert [b.name for b in again.brokers] == ["kafka", "kafka-2", "kafka-3"]
    with pytest.raises(StackSetupError, match="3-broker cluster"):
        LocalStack(replace(three.config, brokers=1))._record_brokers()
