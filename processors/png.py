"""PNG encoding of rendered thumbnails: indexed colour when it is lossless, zlib-ng deflate.

Why its own module: encoding was a fifth of the thumbnail stage's CPU (Pillow, level 6, adaptive
filters), and after the compiled renderer it was the largest part again (libpng at level 1, the
SUB filter: ~1.4 ms per image). Choices, each measured by bench/thumbnails.py (its
`PNG encoding` table):
* an exact palette when the image has at most 256 colours (flat-shaded boxy models at 256 px):
  8-bit indexed PNG, the same pixels, a third of the bytes to deflate;
* deflate by zlib-ng (through imagecodecs), level 2, no row filter: thumbnails are mostly flat
  background and flat shades, whose long runs zlib-ng's fast match finder packs without a
  filter; ~2x less CPU than libpng's zlib at level 1 with the SUB filter, for files within a
  few percent of the same size. libpng and Pillow cannot be given another deflate, so this
  module writes the four chunks of a PNG itself (signature, IHDR, PLTE/tRNS, IDAT, IEND: the
  container is a length, a tag and a CRC per chunk; everything that costs is zlib-ng's).
Both are lossless: the PNG decodes to exactly the rendered pixels (checked by Pillow in tests).
"""
from __future__ import annotations

import struct
import zlib

import imagecodecs
import numpy as np

from processors import raster

COMPRESS_LEVEL = 2
_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_COLOUR_TYPE = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (grey, RGB, RGBA)
_INDEXED = 3
_FILTER_NONE = 0


def _chunk(tag: bytes, data) -> bytes:
    return struct.pack(">I", len(data)) + tag + bytes(data) + struct.pack(">I", zlib.crc32(data, zlib.crc32(tag)))


def _idat(rows: np.ndarray, level: int) -> bytes:
    """zlib stream of the scanlines, each prefixed by its filter type (none)."""
    height, width = rows.shape
    raw = np.empty((height, width + 1), np.uint8)
    raw[:, 0] = _FILTER_NONE
    raw[:, 1:] = rows
    return imagecodecs.zlibng_encode(raw, level=level)


def encode(image: np.ndarray, compress_level: int = COMPRESS_LEVEL, use_palette: bool = True) -> bytes:
    """PNG bytes of an (H, W, 3) RGB or (H, W, 4) RGBA uint8 array; decodes to the same pixels."""
    image = np.ascontiguousarray(image, dtype=np.uint8)
    height, width, channels = image.shape
    if channels not in _COLOUR_TYPE:
        raise ValueError(f"PNG needs 1, 3 or 4 channels, got {channels}")
    chunks = []
    index = colours = None
    if use_palette and channels > 1:
        index, colours = raster.palette(image.reshape(-1, channels))
    if index is not None and index.size:
        colour_type = _INDEXED
        chunks.append(_chunk(b"PLTE", colours[:, :3].tobytes()))
        if channels == 4:
            chunks.append(_chunk(b"tRNS", colours[:, 3].tobytes()))
        rows = index.reshape(height, width)
    else:
        colour_type = _COLOUR_TYPE[channels]
        rows = image.reshape(height, width * channels)
    header = struct.pack(">IIBBBBB", width, height, 8, colour_type, 0, 0, 0)  # 8 bits, deflate, no interlace
    return b"".join([_SIGNATURE, _chunk(b"IHDR", header), *chunks, _chunk(b"IDAT", _idat(rows, compress_level)),
                     _chunk(b"IEND", b"")])


__all__ = ["COMPRESS_LEVEL", "encode"]
