"""Several workers on one host: each takes the first free port of MESHSTREAM_WEB_PORTS, and two
starting at the same instant never take the same one (meshstream/web_port.py)."""
from __future__ import annotations

import asyncio
import socket

import pytest

from meshstream.web_port import NoFreePort, hold_free_port, parse_range


def _free_block(n: int) -> range:
    """n consecutive loopback ports that are free right now."""
    for start in range(42000, 60000, n + 1):
        socks = []
        try:
            for port in range(start, start + n):
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                socks.append(s)
            return range(start, start + n)
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError("no free block")


def test_workers_starting_together_take_different_ports():
    ports = _free_block(3)
    first, h1 = hold_free_port("127.0.0.1", ports)
    second, h2 = hold_free_port("127.0.0.1", ports)   # the first has not started listening yet
    third, h3 = hold_free_port("127.0.0.1", ports)
    try:
        assert (first, second, third) == tuple(ports)
        with pytest.raises(NoFreePort):
            hold_free_port("127.0.0.1", ports)
    finally:
        for h in (h1, h2, h3):
            h.close()


def test_the_web_server_can_listen_on_the_held_port_and_others_skip_it():
    ports = _free_block(2)
    port, holder = hold_free_port("127.0.0.1", ports)

    async def serve_and_ask() -> bytes:
        async def answer(reader, writer):
            writer.write(b"worker")
            await writer.drain()
            writer.close()
        # aiohttp (Faust's web server) binds with SO_REUSEADDR, as asyncio does by default
        server = await asyncio.start_server(answer, "127.0.0.1", port)
        try:
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
            data = await reader.read()
            writer.close()
            # while it listens, the next worker gets the next port
            nxt, h = hold_free_port("127.0.0.1", ports)
            h.close()
            assert nxt == ports[1]
            return data
        finally:
            server.close()
            await server.wait_closed()

    try:
        assert asyncio.run(serve_and_ask()) == b"worker"
    finally:
        holder.close()


def test_port_ranges():
    assert parse_range("6066-6165") == range(6066, 6166)
    assert parse_range("7000") == range(7000, 7001)
    for bad in ("6100-6066", "0-10", "x"):
        with pytest.raises(ValueError):
            parse_range(bad)
