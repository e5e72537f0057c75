"""meshstream: contract-first event-streaming pipeline for 3D models on Apache Kafka."""

from streams.core.version import __version__

__all__ = ["__version__"]
