"""Fault injection for integration tests: a loopback TCP proxy in front of a real server that
can be closed (connections refused, as when the server is down) and opened (forwarding)."""
from __future__ import annotations

import socket
import threading


class TcpProxy:
    """Forwards 127.0.0.1:`port` to `target` while open; refuses connections while closed."""

    def __init__(self, port: int, target: tuple[str, int]):
        self.port, self.target = port, target
        self._server: socket.socket | None = None
        self._threads: list[threading.Thread] = []

    def open(self) -> None:
        if self._server is not None:
            return
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen(64)
        self._server = server
        t = threading.Thread(target=self._accept, args=(server,), daemon=True)
        t.start()
        self._threads.append(t)

    def close(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                client.close()
                continue
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
