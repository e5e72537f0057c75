"""Typed processing errors.

Stream agents route on these: `code` becomes the machine-readable failure reason carried by a
`...failed` event, `retryable` tells the orchestrator whether a retry could ever help. Every
error raised while processing a user's file is a `ProcessingError`; anything else escaping a
processor is a bug in meshstream, not in the file.
"""
from __future__ import annotations


class ProcessingError(Exception):
    """Base class: a file could not be processed, for a reason that `code` names."""

    code: str = "processing_error"
    retryable: bool = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def to_dict(self) -> dict:
        """The shape a `...failed` event carries: code, message, retryable."""
        return {"code": self.code, "message": self.message, "retryable": self.retryable}


class EmptyFileError(ProcessingError):
    """The file has no bytes (or only whitespace): nothing to parse."""

    code = "empty_file"


class UnsupportedFormatError(ProcessingError):
    """The content is not any mesh format meshstream reads (STL, OBJ, PLY, GLB/glTF, 3MF)."""

    code = "unsupported_format"


class CorruptMeshError(ProcessingError):
    """The content claims to be a known format but cannot be parsed (truncated, malformed)."""

    code = "corrupt_mesh"


class MeshTooLargeError(ProcessingError):
    """The file is over a configured limit (bytes or triangles); the message names both values."""

    code = "too_large"


class InvalidGeometryError(ProcessingError):
    """The file parses but the geometry is unusable: NaN/inf coordinates, or no faces at all."""

    code = "invalid_geometry"


__all__ = [
    "ProcessingError",
    "EmptyFileError",
    "UnsupportedFormatError",
    "CorruptMeshError",
    "MeshTooLargeError",
    "InvalidGeometryError",
]
