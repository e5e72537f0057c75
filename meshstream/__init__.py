"""meshstream: contract-first event-streaming pipeline for 3D models on Apache Kafka."""

__version__ = "0.1.0"
