"""The processors' version, in a module of its own: the worker's event side stamps it on every
outcome and idempotency key, and must not import trimesh (1.4 s of CPU at each worker start) to
read one string.

Bump when any processor's output for the same input changes (it is part of idempotency keys).
"""
PROCESSOR_VERSION = "0.2.0"
