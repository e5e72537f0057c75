"""Pure parts of the local stack: cluster ids and port choice."""
from __future__ import annotations

from stack.config import Ports
from stack.services import new_cluster_id


def test_cluster_ids_are_kafka_shaped_and_never_look_like_an_option():
    ids = {new_cluster_id() for _ in range(3000)}
    assert len(ids) == 3000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_free_ports_are_distinct_and_leave_room_for_grpc_twins():
    ports = Ports.free()
    values = list(vars(ports).values())
    assert len(set(values)) == len(values)
    assert all(p + 10000 <= 65535 for p in (ports.s3, ports.seaweed_master, ports.seaweed_volume, ports.seaweed_filer))
