"""A TCP proxy that delays every chunk by a fixed one-way time, both ways, in order: an object
store `delay` ms away, for bench/remote_s3.py (the S3 server here answers in about a millisecond;
a deployment's is often 5-20 ms away).

Run: python bench/delay_proxy.py LISTEN_PORT TARGET_HOST TARGET_PORT DELAY_MS
(prints `ready` once it listens on 127.0.0.1:LISTEN_PORT)
"""
from __future__ import annotations

import asyncio
import sys


async def _pump(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delay: float) -> None:
    """Forward what `reader` gives to `writer`, each chunk `delay` s after it arrived, in arrival
    order (one queue and one sender per direction, so chunks never overtake each other)."""
    loop = asyncio.get_running_loop()
    due: asyncio.Queue = asyncio.Queue()

    async def send() -> None:
        while True:
            when, data = await due.get()
            if when > loop.time():
                await asyncio.sleep(when - loop.time())
            if data is None:
                writer.close()
                return
            writer.write(data)

    sender = asyncio.ensure_future(send())
    try:
        while True:
            data = await reader.read(65536)
            due.put_nowait((loop.time() + delay, data or None))
            if not data:
                break
    except OSError:
        due.put_nowait((loop.time(), None))
    await sender


async def serve(listen: int, host: str, port: int, delay: float) -> None:
    async def connection(client_r, client_w):
        try:
            server_r, server_w = await asyncio.open_connection(host, port)
        except OSError:
            client_w.close()
            return
        await asyncio.gather(_pump(client_r, server_w, delay), _pump(server_r, client_w, delay), return_exceptions=True)

    server = await asyncio.start_server(connection, "127.0.0.1", listen)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    listen, host, port, delay_ms = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    asyncio.run(serve(listen, host, port, delay_ms / 1000.0))
