"""The client layer: what a Python service outside the worker uses to publish scans, subscribe to
events, spool while the broker is away, and replay topics (streams/client/replay.py).

Downstream services should install the standalone `meshstream-client` package
(clients/python/) instead; this layer serves the CLI and the worker's own tooling.
"""
from streams.client.publisher import (Publisher, processing_options, producer_config, spool_for,
                                      write_objects_manifest)
from streams.client.subscriber import TERMINAL, Received, Subscriber

__all__ = ["Publisher", "Received", "Subscriber", "TERMINAL", "processing_options", "producer_config",
           "spool_for", "write_objects_manifest"]
