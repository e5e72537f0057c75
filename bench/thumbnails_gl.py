"""ADR 0008's second option, for the bench only: the rasterizing pass on Mesa's llvmpipe.

`gl_rasterizer()` swaps `processors.raster.rasterize` for one that draws the same projected
triangles with moderngl on a headless EGL context (Mesa's software rasterizer, one thread:
LP_NUM_THREADS=0) into float shade / face-id attachments with a 32-bit depth buffer, then reads
them back into the same buffers. Everything else (outlines, compositing, PNG) is unchanged, so
bench/thumbnails.py compares the two rasterizers inside the same renderer.
"""
from __future__ import annotations

import contextlib
import os

import numpy as np

os.environ.setdefault("LP_NUM_THREADS", "0")  # llvmpipe rasterizes in the calling thread
import moderngl  # noqa: E402

from processors import raster  # noqa: E402

_VERTEX = """
#version 330
uniform vec2 size;
uniform vec2 zrange;
in vec3 in_pos;
in float in_shade;
out float v_shade;
void main() {
    v_shade = in_shade;
    gl_Position = vec4(2.0 * in_pos.x / size.x - 1.0, 1.0 - 2.0 * in_pos.y / size.y,
                       2.0 * (in_pos.z - zrange.x) / max(zrange.y - zrange.x, 1e-12) - 1.0, 1.0);
}
"""
_FRAGMENT = """
#version 330
in float v_shade;
layout(location = 0) out float out_shade;
layout(location = 1) out float out_face;
void main() {
    out_shade = v_shade;
    out_face = float(gl_PrimitiveID);
}
"""


class _GL:
    def __init__(self):
        self.ctx = moderngl.create_standalone_context(backend="egl")
        self.prog = self.ctx.program(vertex_shader=_VERTEX, fragment_shader=_FRAGMENT)
        self.fbos: dict[tuple[int, int], moderngl.Framebuffer] = {}

    def fbo(self, width: int, height: int) -> moderngl.Framebuffer:
        key = (width, height)
        if key not in self.fbos:
            self.fbos[key] = self.ctx.framebuffer(
                color_attachments=[self.ctx.texture((width, height), 1, dtype="f4") for _ in range(2)],
                depth_attachment=self.ctx.depth_renderbuffer((width, height)))
        return self.fbos[key]

    def rasterize(self, p, f, cshade, width, height, depth, fid, shade, gx, gy, block, window, cull):
        zlo, zhi = float(p[:, 2].min()), float(p[:, 2].max())
        corners = p[f.reshape(-1)].astype("f4")
        vbo = self.ctx.buffer(np.concatenate([corners, cshade.reshape(-1, 1).astype("f4")], axis=1).tobytes())
        vao = self.ctx.vertex_array(self.prog, [(vbo, "3f 1f", "in_pos", "in_shade")])
        fbo = self.fbo(width, height)
        fbo.use()
        self.ctx.enable(moderngl.DEPTH_TEST)
        if cull:  # the same back-face culling as the numba rasterizer (y is flipped: outward = ccw)
            self.ctx.enable(moderngl.CULL_FACE)
            self.ctx.front_face = "ccw" if cull > 0 else "cw"
        else:
            self.ctx.disable(moderngl.CULL_FACE)
        fbo.clear(-1.0, -1.0, -1.0, -1.0, depth=1.0)
        self.prog["size"].value = (float(width), float(height))
        self.prog["zrange"].value = (zlo, zhi)
        vao.render(moderngl.TRIANGLES)
        n = width * height
        s = np.frombuffer(fbo.read(components=1, attachment=0, dtype="f4"), "f4").reshape(height, width)[::-1]
        i = np.frombuffer(fbo.read(components=1, attachment=1, dtype="f4"), "f4").reshape(height, width)[::-1]
        d = np.frombuffer(fbo.read(components=1, attachment=-1, dtype="f4"), "f4").reshape(height, width)[::-1]
        shade[:n] = s.reshape(-1)
        fid[:n] = i.reshape(-1)
        depth[:n] = zlo + d.reshape(-1) * (zhi - zlo)
        x, y, z = (p[:, k][f.T] for k in range(3))
        area = (x[1] - x[0]) * (y[2] - y[0]) - (x[2] - x[0]) * (y[1] - y[0])
        area[area == 0] = np.inf
        gx[: len(f)] = ((z[1] - z[0]) * (y[2] - y[0]) - (z[2] - z[0]) * (y[1] - y[0])) / area
        gy[: len(f)] = ((z[2] - z[0]) * (x[1] - x[0]) - (z[1] - z[0]) * (x[2] - x[0])) / area
        window[:] = (0, 0, width, height)  # the whole frame was read back
        vao.release()
        vbo.release()


@contextlib.contextmanager
def gl_rasterizer():
    gl = _GL()
    original = raster.rasterize
    raster.rasterize = gl.rasterize
    try:
        yield gl
    finally:
        raster.rasterize = original
        gl.ctx.release()
