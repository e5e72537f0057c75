"""Every client the package creates (producer, consumer, registry client) speaks TLS with the
configured CA when told to: a local TLS listener whose certificate only that CA vouches for
records each completed handshake and the first bytes sent through it. With PLAINTEXT the same
listener sees no handshake at all, so the test tells the two apart."""
from __future__ import annotations

import socket
import ssl
import threading
import time

import pytest

from meshstream_client import MeshstreamError, Publisher, RegistryUnavailable, Settings, Subscriber
from tests.unit.core.tls_fixture import make_tls


class TlsListener:
    """Accepts connections, completes TLS handshakes, keeps the first bytes of each, then closes."""

    def __init__(self, server_pem):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.load_cert_chain(str(server_pem))
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.handshakes: list[bytes] = []
        self.failures = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        conn.settimeout(3)
        try:
            with self.ctx.wrap_socket(conn, server_side=True) as tls:
                try:
                    first = tls.recv(512)
                except OSError:
                    first = b""
                self.handshakes.append(first)
        except (ssl.SSLError, OSError):
            self.failures += 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def tls(tmp_path):
    files = make_tls(tmp_path)
    listener = TlsListener(files.server)
    yield files, listener
    listener.close()


def _wait_for(predicate, timeout=8.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def test_the_consumer_and_the_producer_handshake_with_the_configured_ca(tls):
    files, listener = tls
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{listener.port}", kafka_security_protocol="SSL",
                        kafka_ssl_ca_location=str(files.ca), registry_url="http://127.0.0.1:9")
    sub = Subscriber(settings=settings, connect_timeout=2)
    with pytest.raises(MeshstreamError):  # the listener is no broker: it answers nothing
        list(sub.events(timeout=2))
    assert _wait_for(lambda: listener.handshakes), f"no TLS handshake from the consumer ({listener.failures} failed)"
    seen = len(listener.handshakes)
    Publisher(settings=settings)  # librdkafka connects to the bootstrap servers at once
    assert _wait_for(lambda: len(listener.handshakes) > seen), "no TLS handshake from the producer"
    # what went through the tunnel is Kafka: a request frame, ApiVersions (key 18) first
    assert any(len(b) >= 6 and int.from_bytes(b[4:6], "big") == 18 for b in listener.handshakes)


def test_the_registry_client_uses_https_with_its_ca_and_basic_auth(tls):
    files, listener = tls
    pub = Publisher(settings=Settings(kafka_bootstrap="127.0.0.1:9", registry_url=f"https://127.0.0.1:{listener.port}",
                                      registry_ca_location=str(files.ca), registry_user="svc", registry_password="pw"))
    with pytest.raises(RegistryUnavailable):  # the listener closes without an HTTP answer
        pub.scan("models", "x/")
    assert _wait_for(lambda: listener.handshakes)
    request = listener.handshakes[0]
    assert request.split(b" ")[0] in (b"POST", b"GET") and b"/subjects/model.discovery-scan.requested.v1-value" in request
    assert b"\r\nAuthorization: Basic c3ZjOnB3\r\n" in request  # base64("svc:pw")


def test_plaintext_settings_make_no_tls_handshake(tls):
    _, listener = tls
    sub = Subscriber(settings=Settings(kafka_bootstrap=f"127.0.0.1:{listener.port}", registry_url="http://127.0.0.1:9"),
                     connect_timeout=2)
    with pytest.raises(MeshstreamError):
        list(sub.events(timeout=2))
    assert _wait_for(lambda: listener.failures > 0)
    assert listener.handshakes == []
