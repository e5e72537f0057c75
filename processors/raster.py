"""Compiled kernels of the thumbnail renderer: z-buffer rasterization and the image-space passes.

Why numba: the renderer's cost is per pixel and per triangle, loops that numpy can only express
as large temporary arrays (the pure-numpy renderer spent ~1 s of CPU per model that way, see
bench/thumbnails.py). The same loops compiled by numba (LLVM) fill pixels at memory speed.

One core per pool process: nothing here uses `parallel=True`, and NUMBA_NUM_THREADS defaults to
1 before numba is imported, so no threading layer ever starts beside the process pool.
`cache=True` writes the compiled code next to this module (or in NUMBA_CACHE_DIR, defaulting to a
temp folder when the package is read-only, as in the worker image), so every pool process after
the first loads machine code instead of compiling (compiling takes seconds, loading milliseconds).

Every kernel is a plain sequential loop over inputs in their given order, with strict depth
comparisons (ties keep the first face): the same input gives the same pixels, byte for byte.
"""
from __future__ import annotations

import os
import tempfile

os.environ.setdefault("NUMBA_NUM_THREADS", "1")
if "NUMBA_CACHE_DIR" not in os.environ and not os.access(os.path.dirname(os.path.abspath(__file__)), os.W_OK):
    os.environ["NUMBA_CACHE_DIR"] = os.path.join(tempfile.gettempdir(), "meshstream-numba-cache")

import numpy as np  # noqa: E402
from numba import njit  # noqa: E402

# A vertex shared by more faces than this is shaded flat (its corners keep their face normals):
# smoothing costs degree^2 per vertex, and a hostile file can put a million faces on one vertex.
# Real meshes have degree ~6; fans of cylinder caps (the common high degree) are flat anyway.
MAX_SMOOTH_DEGREE = 64
# Sample states in the shade buffer besides a lit shade (>= 0): nothing drawn, or an outline.
BACKGROUND = -1.0
EDGE = -2.0
# Samples per output pixel along each axis (anti-aliasing): compose reads 2 x 2 blocks.
SUPERSAMPLE = 2


@njit(cache=True)
def face_normals(v, f):
    """Unit face normals (zero for degenerate faces) and twice the face areas."""
    n = f.shape[0]
    fn = np.zeros((n, 3), np.float32)
    area2 = np.zeros(n, np.float32)
    for i in range(n):
        a, b, c = f[i, 0], f[i, 1], f[i, 2]
        e1x, e1y, e1z = v[b, 0] - v[a, 0], v[b, 1] - v[a, 1], v[b, 2] - v[a, 2]
        e2x, e2y, e2z = v[c, 0] - v[a, 0], v[c, 1] - v[a, 1], v[c, 2] - v[a, 2]
        nx = e1y * e2z - e1z * e2y
        ny = e1z * e2x - e1x * e2z
        nz = e1x * e2y - e1y * e2x
        length = np.sqrt(nx * nx + ny * ny + nz * nz)
        area2[i] = length
        if length > 0.0:
            fn[i, 0], fn[i, 1], fn[i, 2] = nx / length, ny / length, nz / length
    return fn, area2


@njit(cache=True)
def corner_normals(f, fn, area2, n_vertices, cos_smooth):
    """Per-corner normals: the area-weighted mean of the normals of the faces around the corner's
    vertex that are within the smoothing angle of this face (cos >= cos_smooth). A sphere gets
    smooth normals, a cube keeps its flat faces, and faces with opposite winding never blend."""
    n = f.shape[0]
    start = np.zeros(n_vertices + 1, np.int64)
    for i in range(n):
        for k in range(3):
            start[f[i, k] + 1] += 1
    for j in range(n_vertices):
        start[j + 1] += start[j]
    fill = start[:-1].copy()
    incident = np.empty(3 * n, np.int64)
    for i in range(n):
        for k in range(3):
            vtx = f[i, k]
            incident[fill[vtx]] = i
            fill[vtx] += 1
    cn = np.empty((n, 3, 3), np.float32)
    for i in range(n):
        for k in range(3):
            vtx = f[i, k]
            lo, hi = start[vtx], start[vtx + 1]
            if hi - lo > MAX_SMOOTH_DEGREE:
                cn[i, k, 0], cn[i, k, 1], cn[i, k, 2] = fn[i, 0], fn[i, 1], fn[i, 2]
                continue
            sx = sy = sz = 0.0
            for j in range(lo, hi):
                g = incident[j]
                if fn[i, 0] * fn[g, 0] + fn[i, 1] * fn[g, 1] + fn[i, 2] * fn[g, 2] >= cos_smooth:
                    sx += fn[g, 0] * area2[g]
                    sy += fn[g, 1] * area2[g]
                    sz += fn[g, 2] * area2[g]
            length = np.sqrt(sx * sx + sy * sy + sz * sz)
            if length > 0.0:
                cn[i, k, 0], cn[i, k, 1], cn[i, k, 2] = sx / length, sy / length, sz / length
            else:
                cn[i, k, 0], cn[i, k, 1], cn[i, k, 2] = fn[i, 0], fn[i, 1], fn[i, 2]
    return cn


@njit(cache=True)
def project(v, center, right, up, forward, x0, y0, scale):
    """Screen coordinates (x right, y down, z away from the viewer), all in pixels."""
    n = v.shape[0]
    out = np.empty((n, 3))
    for i in range(n):
        px, py, pz = v[i, 0] - center[0], v[i, 1] - center[1], v[i, 2] - center[2]
        a = px * right[0] + py * right[1] + pz * right[2]
        b = px * up[0] + py * up[1] + pz * up[2]
        d = px * forward[0] + py * forward[1] + pz * forward[2]
        out[i, 0] = x0 + a * scale
        out[i, 1] = y0 - b * scale
        out[i, 2] = d * scale
    return out


@njit(cache=True)
def corner_shades(fn, cn, smooth, f, p, to_camera, key, ambient, key_weight, fill_weight, depth_cue, facing):
    """Lambert shade per face corner for one view (Gouraud: interpolated across the face),
    dimmed by up to `depth_cue` toward the far side of the model (p: screen coordinates).

    Two-sided: a face turned away from the camera (inconsistent winding, open meshes) is lit as
    if it faced it, so winding never turns a face black. `key` points toward the key light,
    `to_camera` toward the viewer (the fill light). `facing` receives the face normals so turned
    (the outline pass compares them); without `smooth` the corners take them too."""
    zmin = np.inf
    zmax = -np.inf
    for i in range(p.shape[0]):
        zmin = min(zmin, p[i, 2])
        zmax = max(zmax, p[i, 2])
    cue = depth_cue / max(zmax - zmin, 1e-12)
    n = fn.shape[0]
    out = np.empty((n, 3), np.float32)
    for i in range(n):
        flip = 1.0
        if fn[i, 0] * to_camera[0] + fn[i, 1] * to_camera[1] + fn[i, 2] * to_camera[2] < 0.0:
            flip = -1.0
        for k in range(3):
            facing[i, k] = fn[i, k] * flip
        for k in range(3):
            if smooth:
                nx, ny, nz = cn[i, k, 0] * flip, cn[i, k, 1] * flip, cn[i, k, 2] * flip
            else:
                nx, ny, nz = facing[i, 0], facing[i, 1], facing[i, 2]
            lk = nx * key[0] + ny * key[1] + nz * key[2]
            lf = nx * to_camera[0] + ny * to_camera[1] + nz * to_camera[2]
            lit = ambient + key_weight * max(lk, 0.0) + fill_weight * max(lf, 0.0)
            out[i, k] = lit * (1.0 - cue * (p[f[i, k], 2] - zmin))
    return out


@njit(cache=True)
def rasterize(p, f, cshade, width, height, depth, fid, shade, gx, gy, block, window, cull):
    """Z-buffer fill: per pixel the nearest face id, its depth and its interpolated shade.

    Pixel (x, y) is covered when its centre (x + .5, y + .5) is inside or on the triangle; each
    row's span comes from the edge crossings, so thin slivers cost their pixels, not their
    bounding box. Depth is in pixels (gx, gy: each drawn face's depth gradient, for outlines).
    Buffers are flat, at least width * height long. Only `window` is used (written here as x0,
    y0, x1, y1, end-exclusive: the projected mesh's bounding box plus one sample, aligned to
    `block` samples): the later passes treat everything outside it as background without
    reading it. Inside, fid is -1 and shade BACKGROUND where nothing is drawn (depth is only
    meaningful where fid >= 0). `cull` +1 skips faces turned away from the viewer of a closed,
    outward-wound mesh (-1: inward-wound; 0 draws both sides): they are hidden anyway, and
    skipping them halves the fill of a closed mesh."""
    xmn = ymn = np.inf
    xmx = ymx = -np.inf
    for i in range(p.shape[0]):
        if np.isfinite(p[i, 0]) and np.isfinite(p[i, 1]):  # faces with other corners are skipped
            xmn = min(xmn, p[i, 0])
            xmx = max(xmx, p[i, 0])
            ymn = min(ymn, p[i, 1])
            ymx = max(ymx, p[i, 1])
    window[0] = window[1] = window[2] = window[3] = 0
    if xmn <= xmx and ymn <= ymx:
        # clamp as floats before converting: int() of a huge float is undefined in machine code
        window[0] = int(np.floor(min(max(xmn - 1.0, 0.0), width) / block)) * block
        window[1] = int(np.floor(min(max(ymn - 1.0, 0.0), height) / block)) * block
        window[2] = min(int(np.ceil(min(max(xmx + 1.0, 0.0), width) / block)) * block, width)
        window[3] = min(int(np.ceil(min(max(ymx + 1.0, 0.0), height) / block)) * block, height)
    # 2-D views; rows are sliced before indexing, so every index in the loops below counts from 0
    # and is provably non-negative (a flat y * width + x index costs a negative-index check per
    # access and kept these loops from being vectorized)
    ids = fid[:height * width].reshape(height, width)
    depths = depth[:height * width].reshape(height, width)
    shades = shade[:height * width].reshape(height, width)
    for y in range(window[1], window[3]):
        ids[y, window[0]:window[2]] = -1
        shades[y, window[0]:window[2]] = BACKGROUND
    for t in range(f.shape[0]):
        a, b, c = f[t, 0], f[t, 1], f[t, 2]
        x0, y0, z0 = p[a, 0], p[a, 1], p[a, 2]
        x1, y1, z1 = p[b, 0], p[b, 1], p[b, 2]
        x2, y2, z2 = p[c, 0], p[c, 1], p[c, 2]
        area = (x1 - x0) * (y2 - y0) - (x2 - x0) * (y1 - y0)
        if not area != 0.0 or not np.isfinite(area) or area * cull > 0.0:  # y is down: facing < 0
            continue
        xmin = max(min(x0, x1, x2), -1.0)
        xmax = min(max(x0, x1, x2), width + 1.0)
        ymin = max(min(y0, y1, y2), -1.0)
        ymax = min(max(y0, y1, y2), height + 1.0)
        ix0 = max(int(np.ceil(xmin - 0.5)), 0)
        ix1 = min(int(np.floor(xmax - 0.5)), width - 1)
        iy0 = max(int(np.ceil(ymin - 0.5)), 0)
        iy1 = min(int(np.floor(ymax - 0.5)), height - 1)
        if ix0 > ix1 or iy0 > iy1:
            continue
        inv = 1.0 / area
        dzdx = ((z1 - z0) * (y2 - y0) - (z2 - z0) * (y1 - y0)) * inv
        dzdy = ((z2 - z0) * (x1 - x0) - (z1 - z0) * (x2 - x0)) * inv
        s0, s1, s2 = np.float64(cshade[t, 0]), np.float64(cshade[t, 1]), np.float64(cshade[t, 2])
        dsdx = ((s1 - s0) * (y2 - y0) - (s2 - s0) * (y1 - y0)) * inv
        dsdy = ((s2 - s0) * (x1 - x0) - (s1 - s0) * (x2 - x0)) * inv
        zlo, zhi = min(z0, z1, z2), max(z0, z1, z2)
        slo, shi = min(s0, s1, s2), max(s0, s1, s2)
        gx[t] = dzdx
        gy[t] = dzdy
        # Row spans from the edges, each edge evaluated from its canonical end (lower y, then
        # lower x): the two faces sharing an edge get the same bits and leave no crack.
        X0, Y0, X1, Y1, X2, Y2 = x0, y0, x1, y1, x2, y2
        if Y1 < Y0 or (Y1 == Y0 and X1 < X0):
            X0, Y0, X1, Y1 = X1, Y1, X0, Y0
        if Y2 < Y1 or (Y2 == Y1 and X2 < X1):
            X1, Y1, X2, Y2 = X2, Y2, X1, Y1
            if Y1 < Y0 or (Y1 == Y0 and X1 < X0):
                X0, Y0, X1, Y1 = X1, Y1, X0, Y0
        k02 = (X2 - X0) / (Y2 - Y0)
        k01 = (X1 - X0) / (Y1 - Y0) if Y1 > Y0 else 0.0
        k12 = (X2 - X1) / (Y2 - Y1) if Y2 > Y1 else 0.0
        for py in range(iy0, iy1 + 1):
            cy = py + 0.5
            if cy < Y0 or cy > Y2:
                continue
            xa = X0 + (cy - Y0) * k02
            if cy < Y1:
                xb = X0 + (cy - Y0) * k01
            elif Y2 > Y1:
                xb = X1 + (cy - Y1) * k12
            else:
                xb = X1
            xl = min(xa, xb)
            xr = max(xa, xb)
            px0 = max(int(np.ceil(max(xl, -1.0) - 0.5)), ix0)
            px1 = min(int(np.floor(min(xr, width + 1.0) - 0.5)), ix1)
            if px1 < px0:
                continue
            zrow = z0 + dzdy * (cy - y0) + dzdx * (px0 + 0.5 - x0)
            srow = s0 + dsdy * (cy - y0) + dsdx * (px0 + 0.5 - x0)
            span_id, span_depth, span_shade = ids[py, px0:px1 + 1], depths[py, px0:px1 + 1], shades[py, px0:px1 + 1]
            for i in range(px1 + 1 - px0):
                z = min(max(zrow + dzdx * i, zlo), zhi)
                if span_id[i] < 0 or z < span_depth[i]:
                    span_depth[i] = z
                    span_id[i] = t
                    span_shade[i] = min(max(srow + dsdx * i, slo), shi)


@njit(cache=True)
def outline(fid, depth, width, facing, gx, gy, cos_crease, tol, shade, window):
    """Mark as EDGE (in the shade buffer) both samples of every neighbour pair across a
    silhouette (one is background), a crease (`facing` normals more than the crease angle apart)
    or a depth jump (neither face's plane predicts the other sample's depth within `tol`):
    lines two samples wide, one output pixel.

    One pass over the window's rows, each sample compared with its right and its lower
    neighbour, through row views indexed from 0 (provably non-negative: no negative-index check
    per read). Most pairs share a face and cost one comparison; the test itself is written out
    twice because a helper function called per pair ran ~25x slower under numba."""
    x0, y0, x1, y1 = window[0], window[1], window[2], window[3]
    if x1 <= x0 or y1 <= y0:
        return
    n = x1 - x0
    ids = fid[:y1 * width].reshape(y1, width)
    depths = depth[:y1 * width].reshape(y1, width)
    shades = shade[:y1 * width].reshape(y1, width)
    for y in range(y0, y1):
        f0, d0, s0 = ids[y, x0:x1], depths[y, x0:x1], shades[y, x0:x1]
        for i in range(n - 1):
            a = f0[i]
            b = f0[i + 1]
            if a != b:
                if a < 0 or b < 0:
                    edge = True
                elif facing[a, 0] * facing[b, 0] + facing[a, 1] * facing[b, 1] + facing[a, 2] * facing[b, 2] < cos_crease:
                    edge = True
                else:
                    dz = d0[i + 1] - d0[i]
                    edge = min(abs(dz - gx[a]), abs(dz - gx[b])) > tol
                if edge:
                    s0[i] = EDGE
                    s0[i + 1] = EDGE
        if y + 1 == y1:
            break
        f1, d1, s1 = ids[y + 1, x0:x1], depths[y + 1, x0:x1], shades[y + 1, x0:x1]
        for i in range(n):
            a = f0[i]
            b = f1[i]
            if a != b:
                if a < 0 or b < 0:
                    edge = True
                elif facing[a, 0] * facing[b, 0] + facing[a, 1] * facing[b, 1] + facing[a, 2] * facing[b, 2] < cos_crease:
                    edge = True
                else:
                    dz = d1[i] - d0[i]
                    edge = min(abs(dz - gy[a]), abs(dz - gy[b])) > tol
                if edge:
                    s0[i] = EDGE
                    s1[i] = EDGE


@njit(cache=True)
def compose(shade, width, size, color, edge_color, background, transparent,
            shadow, shadow_opacity, ground, shadow_box, window, out):
    """Box-downsample the SUPERSAMPLE x SUPERSAMPLE (2 x 2) samples of every output pixel into
    RGB(A) uint8.

    A sample is an outline (edge colour), a lit shade (model colour x shade) or background; the
    background darkens under the soft ground shadow. `ground` maps an output pixel centre to
    shadow-grid coordinates: (X - gx0) * ux + (Y - gy0) * vx + ox for grid x, same with uy, vy,
    oy for grid y (an affine map, precomputed per view); the shadow is only sampled inside
    `shadow_box` (x0, y0, x1, y1 in output pixels), where it is visible. Samples outside
    `window` (see rasterize) are background and not read.

    Row by row, in three branch-free passes the compiler vectorizes: the model's colour and the
    background's share of each pixel (planar rows), the shadow where background shows through,
    then blending and packing into the interleaved output. Samples are read through row views at
    indices the compiler can prove non-negative (2 * x). One loop with a branch per sample class
    and flat indices (y * width + x) took 7.7 ns per pixel; this takes ~2."""
    z, one, quarter, half, top = np.float32(0.0), np.float32(1.0), np.float32(0.25), np.float32(0.5), np.float32(255.0)
    cut = np.float32((BACKGROUND + EDGE) / 2.0)  # below: an outline sample; between it and 0: background
    c0, c1, c2 = np.float32(color[0]), np.float32(color[1]), np.float32(color[2])
    e0, e1, e2 = np.float32(edge_color[0]), np.float32(edge_color[1]), np.float32(edge_color[2])
    b0, b1, b2 = np.float32(background[0]), np.float32(background[1]), np.float32(background[2])
    gx0, gy0, ux, vx, ox, uy, vy, oy = ground[0], ground[1], ground[2], ground[3], ground[4], ground[5], ground[6], ground[7]
    sh, sw = shadow.shape
    opacity = np.float32(shadow_opacity)
    wx0, wy0, wx1, wy1 = window[0] // 2, window[1] // 2, window[2] // 2, window[3] // 2
    # clamp as floats before converting (int() of NaN or 1e300 is undefined in machine code)
    lo_x, hi_x = np.floor(shadow_box[0]), np.ceil(shadow_box[2])
    sx0 = int(min(lo_x, size)) if lo_x >= 0.0 else 0
    sx1 = int(min(hi_x, size)) if hi_x >= 0.0 else 0
    samples = shade[:2 * size * width].reshape(2 * size, width)
    # per output pixel of the current row: model colour (premultiplied by its coverage), the
    # background's share, and the shadow's strength; outside the window: none, all, none
    mr, mg, mb = np.zeros(size, np.float32), np.zeros(size, np.float32), np.zeros(size, np.float32)
    keep = np.ones(size, np.float32)
    dark = np.zeros(size, np.float32)
    channels = out.shape[2]
    flat_rows = out.reshape(size, size * channels)
    plain = np.zeros(size * channels, np.uint8)  # a background row
    if not transparent:
        for xo in range(size):
            pixel = plain[channels * xo:channels * xo + 3]
            pixel[0], pixel[1], pixel[2] = np.uint8(b0), np.uint8(b1), np.uint8(b2)
    for yo in range(size):
        line = out[yo]
        if wy0 <= yo < wy1:
            # views starting at the window: loop indices from 0 are provably non-negative
            upper = samples[2 * yo, 2 * wx0:2 * wx1]
            lower = samples[2 * yo + 1, 2 * wx0:2 * wx1]
            wr, wg, wb, wk = mr[wx0:wx1], mg[wx0:wx1], mb[wx0:wx1], keep[wx0:wx1]
            for i in range(wx1 - wx0):
                v0, v1, v2, v3 = upper[2 * i], upper[2 * i + 1], lower[2 * i], lower[2 * i + 1]
                lit = (max(v0, z) + max(v1, z) + max(v2, z) + max(v3, z)) * quarter
                e = ((one if v0 < cut else z) + (one if v1 < cut else z) + (one if v2 < cut else z)
                     + (one if v3 < cut else z)) * quarter
                wk[i] = ((one if v0 < z else z) + (one if v1 < z else z) + (one if v2 < z else z)
                         + (one if v3 < z else z)) * quarter - e
                wr[i] = c0 * lit + e0 * e
                wg[i] = c1 * lit + e1 * e
                wb[i] = c2 * lit + e2 * e
        shaded = opacity > z and shadow_box[1] <= yo + 0.5 <= shadow_box[3]
        if shaded:
            Y = yo + 0.5 - gy0
            for xo in range(sx0, sx1):
                if keep[xo] > z and shadow_box[0] <= xo + 0.5 <= shadow_box[2]:
                    X = xo + 0.5 - gx0
                    # bilinear sample of the shadow grid (zero outside it)
                    gxf = X * ux + Y * vx + ox - 0.5
                    gyf = X * uy + Y * vy + oy - 0.5
                    ix = int(np.floor(gxf))
                    iy = int(np.floor(gyf))
                    fx = gxf - ix
                    fy = gyf - iy
                    s = 0.0
                    for oy_ in range(2):
                        for ox_ in range(2):
                            cx, cyy = ix + ox_, iy + oy_
                            if 0 <= cx < sw and 0 <= cyy < sh:
                                s += (fx if ox_ else 1.0 - fx) * (fy if oy_ else 1.0 - fy) * shadow[cyy, cx]
                    dark[xo] = np.float32(s) * opacity
        # blend and pack the span where the model or its shadow can be; the rest is background
        lo, hi = (wx0, wx1) if wy0 <= yo < wy1 else (size, 0)
        if shaded:
            lo, hi = min(lo, sx0), max(hi, sx1)
        flat = flat_rows[yo]
        if hi <= lo:
            flat[:] = plain
            continue
        flat[:lo * channels] = plain[:lo * channels]
        flat[hi * channels:] = plain[hi * channels:]
        span, pr, pg, pb, pk, pd = line[lo:hi], mr[lo:hi], mg[lo:hi], mb[lo:hi], keep[lo:hi], dark[lo:hi]
        if transparent:
            for i in range(hi - lo):
                k = pk[i]
                alpha = one - k + k * pd[i]  # the shadow is black at opacity `dark`
                inv = one / alpha if alpha > z else z
                span[i, 0] = np.uint8(min(pr[i] * inv + half, top))
                span[i, 1] = np.uint8(min(pg[i] * inv + half, top))
                span[i, 2] = np.uint8(min(pb[i] * inv + half, top))
                span[i, 3] = np.uint8(min(alpha * top + half, top))
        else:
            for i in range(hi - lo):
                k = pk[i] * (one - pd[i])
                span[i, 0] = np.uint8(min(pr[i] + k * b0 + half, top))  # round half up, clamp
                span[i, 1] = np.uint8(min(pg[i] + k * b1 + half, top))
                span[i, 2] = np.uint8(min(pb[i] + k * b2 + half, top))
        if wy0 <= yo < wy1:  # back to "outside the window" for the next row
            mr[wx0:wx1] = z
            mg[wx0:wx1] = z
            mb[wx0:wx1] = z
            keep[wx0:wx1] = one
        if shaded:
            dark[sx0:sx1] = z


@njit(cache=True)
def palette(pixels):
    """Exact palette of an (N, C) uint8 image if it has at most 256 colours: (indices, colours),
    colours in order of first appearance; (None-like empty, empty) when it has more. Lets the PNG
    be written as 8-bit indexed, losslessly (a third of the bytes to compress)."""
    n, c = pixels.shape
    size = 1024
    keys = np.full(size, -1, np.int64)
    slot_index = np.zeros(size, np.int64)
    colours = np.zeros((256, c), np.uint8)
    index = np.empty(n, np.uint8)
    count = 0
    last_key = np.int64(-1)
    last_index = np.uint8(0)
    for i in range(n):
        key = np.int64(0)
        for k in range(c):
            key = (key << 8) | np.int64(pixels[i, k])
        if key == last_key:  # runs (background, flat faces) skip the hash table
            index[i] = last_index
            continue
        h = ((key * np.int64(2654435761)) >> 7) & (size - 1)
        while keys[h] != -1 and keys[h] != key:
            h = (h + 1) & (size - 1)
        if keys[h] == -1:
            if count == 256:
                return np.empty(0, np.uint8), colours[:0]
            keys[h] = key
            slot_index[h] = count
            for k in range(c):
                colours[count, k] = pixels[i, k]
            count += 1
        index[i] = slot_index[h]
        last_key = key
        last_index = index[i]
    return index, colours[:count]
