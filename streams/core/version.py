"""The product version, stamped on every event's `producer.version`.

It lives below `streams/` because the runtime (envelopes, clients) needs it and must not import
the CLI package; `meshstream.__version__` re-exports it.
"""

__version__ = "0.1.0"
