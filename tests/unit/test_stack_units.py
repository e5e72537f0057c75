"""Pure parts of the local stack: cluster ids and port choice."""
from __future__ import annotations

import socket

from stack.config import Ports, ephemeral_ports, free_port
from stack.services import new_cluster_id


def test_cluster_ids_are_kafka_shaped_and_never_look_like_an_option():
    ids = {new_cluster_id() for _ in range(3000)}
    assert len(ids) == 3000
    assert all(len(i) == 22 and not i.startswith("-") for i in ids)


def test_free_ports_are_distinct_and_leave_room_for_grpc_twins():
    ports = Ports.free()
    values = list(vars(ports).values())
    twins = [p + 10000 for p in (ports.s3, ports.seaweed_master, ports.seaweed_volume, ports.seaweed_filer)]
    assert len(set(values + twins)) == len(values) + len(twins)
    assert all(p + 10000 <= 65535 for p in (ports.s3, ports.seaweed_master, ports.seaweed_volume, ports.seaweed_filer))


def test_free_ports_are_never_ones_an_outgoing_connection_could_take_first():
    """An outgoing connection's local port comes from the ephemeral range: a server port chosen
    there was taken by a client before a (re)started broker bound it ("Address already in use")."""
    ephemeral = ephemeral_ports()
    ports = Ports.free()
    twins = [p + 10000 for p in (ports.s3, ports.seaweed_master, ports.seaweed_volume, ports.seaweed_filer)]
    picked = [free_port() for _ in range(200)] + list(vars(ports).values()) + twins
    assert not [p for p in picked if p in ephemeral]
    assert len(set(picked)) > 150  # spread over the range, not one port handed out again and again
    port = free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # and it is free
    with socket.socket() as client:  # while a connection's own port is ephemeral
        with socket.socket() as server:
            server.bind(("127.0.0.1", port))
            server.listen()
            client.connect(("127.0.0.1", port))
            assert client.getsockname()[1] in ephemeral
