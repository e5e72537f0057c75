"""The thumbnails stage honours the request's colour and transparency (contract v2 fields)."""
from __future__ import annotations

import io
from types import SimpleNamespace

import numpy as np
import trimesh
from PIL import Image

from processors.loading import load_mesh
from streams.execution.context import StageContext
from streams.execution.stages import thumbnails


class _Context:
    """What the stage's work uses of a StageContext: the loaded model, and where images go."""

    def __init__(self, mesh):
        self.loaded = load_mesh(mesh.export(file_type="stl"), "cube.stl")
        self.settings = SimpleNamespace(results_bucket="results")
        self.stored: dict[str, bytes] = {}

    def load_model(self, files, skip_cache=False, units=None):
        return self.loaded, [("cube.stl", self.loaded)]

    def store_bytes(self, bucket, key, data, content_type, metadata=None):
        self.stored[key] = data
        return {"storage": "default", "bucket": bucket, "key": key, "etag": "x", "size_bytes": len(data)}

    store_many = StageContext.store_many  # the real overlap, onto the store_bytes above


def _iso(ctx) -> np.ndarray:
    (key,) = [k for k in ctx.stored if k.endswith("isometric_256.png")]
    img = Image.open(io.BytesIO(ctx.stored[key]))  # indexed PNGs decode as "P": expand them
    return np.asarray(img.convert("RGBA" if "transparency" in img.info or img.mode == "RGBA" else "RGB"))


def _payload(**extra) -> dict:
    return {"run_id": "r", "model_id": "m", "files": [{"key": "cube.stl"}], "generate_360_views": False,
            "preview_type": "hero", "sizes": [256], **extra}


def test_default_style_is_the_blue_model_on_white():
    ctx = _Context(trimesh.creation.box(extents=(10, 10, 10)))
    thumbnails.work(ctx, _payload())
    img = _iso(ctx)
    assert img.shape == (256, 256, 3) and tuple(img[0, 0]) == (255, 255, 255)
    centre = img[118:138, 118:138].reshape(-1, 3).mean(axis=0)
    assert centre[2] > centre[0] + 30  # blue dominates the model's face


def test_a_red_model_on_a_transparent_background():
    ctx = _Context(trimesh.creation.box(extents=(10, 10, 10)))
    thumbnails.work(ctx, _payload(color="#d02020", transparent=True))
    img = _iso(ctx)
    assert img.shape == (256, 256, 4) and img[0, 0, 3] == 0  # corners fully transparent
    centre = img[118:138, 118:138].reshape(-1, 4)
    assert (centre[:, 3] == 255).all()
    rgb = centre[:, :3].mean(axis=0)
    assert rgb[0] > rgb[2] + 60 and rgb[0] > rgb[1] + 60  # red dominates
