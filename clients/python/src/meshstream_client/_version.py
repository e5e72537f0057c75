"""The client's version: in every envelope it writes (`producer.version`) and in its wheel."""
__version__ = "0.1.0"
