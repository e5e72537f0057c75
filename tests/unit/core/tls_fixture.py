"""Certificates for unit tests, from the stack's own generator (stack/tls.py)."""
from stack.tls import ensure_tls


def make_tls(directory):
    return ensure_tls(directory / "tls", "127.0.0.1")
