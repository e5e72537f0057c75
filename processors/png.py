"""PNG encoding of rendered thumbnails: indexed colour when it is lossless, fast deflate otherwise.

Why its own module: encoding was a fifth of the thumbnail stage's CPU (Pillow, level 6, adaptive
filters). Choices, each measured by bench/thumbnails.py (its `PNG encoding` table):
* an exact palette when the image has at most 256 colours (flat-shaded boxy models at 256 px):
  8-bit indexed PNG through Pillow, the same pixels, a third of the bytes to deflate;
* otherwise imagecodecs' libpng with zlib level 1 and the SUB filter (OpenCV's fast setting):
  thumbnails are mostly flat background, which the fastest level already packs well; it is
  ~2.5x less CPU than Pillow at level 1 (Pillow tries every filter on every row) for files
  within a few percent of the same size.
Both are lossless: the PNG decodes to exactly the rendered pixels.
"""
from __future__ import annotations

import io

import imagecodecs
import numpy as np
from PIL import Image

from processors import raster

COMPRESS_LEVEL = 1
FILTER = imagecodecs.PNG.FILTER.SUB


def encode(image: np.ndarray, compress_level: int = COMPRESS_LEVEL, use_palette: bool = True) -> bytes:
    """PNG bytes of an (H, W, 3) RGB or (H, W, 4) RGBA uint8 array; decodes to the same pixels."""
    height, width, channels = image.shape
    if use_palette:
        index, colours = raster.palette(image.reshape(-1, channels))
        if index.size:
            img = Image.frombuffer("P", (width, height), index, "raw", "P", 0, 1)
            img.putpalette(colours[:, :3].tobytes(), "RGB")
            params = {"transparency": colours[:, 3].tobytes()} if channels == 4 else {}
            buf = io.BytesIO()
            img.save(buf, format="PNG", compress_level=compress_level, **params)
            return buf.getvalue()
    return bytes(imagecodecs.png_encode(np.ascontiguousarray(image), level=compress_level, filter=FILTER))


__all__ = ["COMPRESS_LEVEL", "encode"]
