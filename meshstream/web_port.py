"""The worker's web port when MESHSTREAM_WEB_PORT is not set: the first free port of
MESHSTREAM_WEB_PORTS (default 6066-6165), so several workers share a host without configuration.

Two workers starting at the same instant must not both pick 6066. The chosen port is therefore
*held* from the moment it is chosen: a socket bound to it without SO_REUSEADDR (so another
worker's probe fails on it) and then marked SO_REUSEADDR, which lets Faust's web server, which
binds with SO_REUSEADDR, take the port over once it listens (Linux allows a second SO_REUSEADDR
bind while the first socket is not listening). The holding socket lives as long as the worker.
"""
from __future__ import annotations

import socket


class NoFreePort(RuntimeError):
    """Every port of the range is taken."""


def parse_range(text: str) -> range:
    """"6066-6165" -> range(6066, 6166); a single "7000" is a range of one."""
    lo, _, hi = text.partition("-")
    first, last = int(lo), int(hi or lo)
    if not 0 < first <= last <= 65535:
        raise ValueError(f"MESHSTREAM_WEB_PORTS={text!r}: expected FIRST-LAST, e.g. 6066-6165")
    return range(first, last + 1)


def hold_free_port(bind: str, ports: range) -> tuple[int, socket.socket]:
    """The first port of `ports` nobody on this host has bound or is holding, and its holder."""
    for port in ports:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((bind, port))
        except OSError:
            sock.close()
            continue
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        return port, sock
    raise NoFreePort(f"no free port in {ports.start}-{ports.stop - 1} on {bind}; "
                     "set MESHSTREAM_WEB_PORT or widen MESHSTREAM_WEB_PORTS")
