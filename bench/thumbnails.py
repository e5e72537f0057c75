"""Thumbnail renderer CPU: the old pure-numpy renderer vs the compiled one, in one run.

Run: .venv/bin/python bench/thumbnails.py [--models 6] [--repeat 2] [--triangles 1000000]
                                          [--contact-sheet docs/images/thumbnails-contact-sheet.png]

For every model, a model's thumbnails are what the thumbnails stage makes on the standard
workflow: front / isometric / top at 256 and 512 px plus 8 turntable frames at 256 px (14
PNGs). CPU is time.process_time() in this process (the stage runs in one pool process on one
core), best of --repeat, after a warm-up that loads the compiled kernels. Prints per model and
per image, old, new and old / new, for:
  * the issue's two single models: a 9,216-triangle torus and a 12-triangle 1 mm box, and the
    minimal workflow's one image (isometric, 256 px) of that box;
  * the bench's model set (bench/pipeline.py's build_models: 600-12,000 triangles, five shapes);
  * every processor per model of that set (`meshstream analyze --thumbnails --turntable 8`,
    what bench/pipeline.py calls the pure work), old vs new thumbnails;
  * a 1M-triangle torus (one repeat: the old renderer takes seconds per image).
Then PNG encoding alone on the new renderer's images of the model set: Pillow at level 6 (the
old setting), Pillow at level 1, imagecodecs at level 1 with the SUB filter, and the product's
encoder (exact palette when lossless, else imagecodecs): CPU and bytes.
With moderngl installed (`pip install moderngl`; not a project dependency), also the new
renderer with its rasterizing pass done by Mesa's llvmpipe through EGL (single-threaded,
LP_NUM_THREADS=0) instead of numba: ADR 0008's second option, same outlines and compositing.
--contact-sheet writes all views of six models (cube, sphere, torus, cylinder, bracket, vase).
"""
from __future__ import annotations

import argparse
import io
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # the repository before bench/ (bench/processors.py is a script)
if str(HERE) not in sys.path:
    sys.path.append(str(HERE))

import numpy as np  # noqa: E402
import trimesh  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

import thumbnails_numpy as old  # noqa: E402  (the baseline, kept in bench/ only)
from pipeline import build_models  # noqa: E402
from processors import png  # noqa: E402
from processors import thumbnails as new  # noqa: E402
from processors.samples import sample_meshes  # noqa: E402

IMAGES_PER_MODEL = 14


def model_thumbnails(module, mesh) -> list:
    """What the thumbnails stage makes on the standard workflow (streams/execution/stages/
    thumbnails.py): the new renderer prepares the mesh once for the views and the turntable, as
    the stage does; the old one has no such step."""
    if hasattr(module, "prepare"):
        mesh = module.prepare(mesh)
    return module.standard_views(mesh) + module.turntable(mesh, frames=8, size=256)


def cpu(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.process_time()
        fn()
        best = min(best, time.process_time() - t)
    return best


def torus_grid(triangles: int, R: float = 30.0, r: float = 10.0) -> trimesh.Trimesh:
    nv = max(3, int(round(np.sqrt(triangles / 4))))
    nu = max(3, triangles // (2 * nv))
    u = np.linspace(0, 2 * np.pi, nu, endpoint=False)
    v = np.linspace(0, 2 * np.pi, nv, endpoint=False)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    pts = np.stack([(R + r * np.cos(vv)) * np.cos(uu), (R + r * np.cos(vv)) * np.sin(uu), r * np.sin(vv)], -1)
    i, j = np.arange(nu)[:, None], np.arange(nv)[None, :]
    a, b = i * nv + j, ((i + 1) % nu) * nv + j
    c, d = ((i + 1) % nu) * nv + (j + 1) % nv, i * nv + (j + 1) % nv
    faces = np.concatenate([np.stack([a, b, c], -1).reshape(-1, 3), np.stack([a, c, d], -1).reshape(-1, 3)])
    return trimesh.Trimesh(pts.reshape(-1, 3), faces, process=False)


def vase() -> trimesh.Trimesh:
    profile = np.array([[0, 0], [8, 0], [10, 5], [6, 15], [5, 22], [7, 28], [6.4, 28], [4.4, 22], [5.4, 15],
                        [9.4, 5], [7.4, 0.6], [0, 0.6]])
    return trimesh.creation.revolve(profile, sections=64)


def showcase() -> dict[str, trimesh.Trimesh]:
    """The contact sheet's six models (the bundled samples plus a revolved vase)."""
    s = sample_meshes()
    bracket = trimesh.util.concatenate([s["bracket/bracket_part_01.stl"], s["bracket/bracket_part_02.stl"]])
    return {"cube": s["cube_10mm.stl"], "sphere": s["sphere_r5.stl"], "torus": s["torus.obj"],
            "cylinder": s["cylinder.ply"], "bracket": bracket, "vase": vase()}


def contact_sheet(path: Path) -> None:
    """All 14 images of each showcase model, one row per model (the 512 px views shown at 256)."""
    cell, label = 256, 18
    rows = showcase()
    sheet = Image.new("RGB", (cell * IMAGES_PER_MODEL // 2, (cell * 2 + label) * len(rows)), (235, 235, 235))
    draw = ImageDraw.Draw(sheet)
    for r, (name, mesh) in enumerate(rows.items()):
        shots = model_thumbnails(new, mesh)
        top = r * (cell * 2 + label)
        draw.text((6, top + 3), f"{name} ({len(mesh.faces):,} triangles): front, isometric, top at 256 and 512 px; "
                                "8 turntable frames at 256 px", fill=(40, 40, 40))
        for k, shot in enumerate(shots):
            img = Image.open(io.BytesIO(shot.png)).convert("RGB")
            if img.size[0] != cell:
                img = img.resize((cell, cell), Image.LANCZOS)
            sheet.paste(img, ((k % 7) * cell, top + label + (k // 7) * cell))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)
    print(f"contact sheet: {path} ({path.stat().st_size / 1024:.0f} KiB)")


def row(name: str, triangles: int, t_old: float, t_new: float, models: int = 1, per_image: bool = True) -> None:
    per_old, per_new = t_old / models * 1e3, t_new / models * 1e3
    images = (f"{per_old / IMAGES_PER_MODEL:9.2f} {per_new / IMAGES_PER_MODEL:9.2f}" if per_image
              else f"{'-':>9} {'-':>9}")
    print(f"{name:34} {triangles:>10,} {per_old:10.1f} {per_new:9.1f} {images} {t_old / t_new:8.1f}x")


def all_processors(models: dict[str, bytes], repeat: int) -> tuple[float, float]:
    """CPU of every processor per model (`meshstream analyze --thumbnails --turntable 8`, the
    code path bench/pipeline.py measures as the pure work) with the old and then the new
    thumbnails: the geometry CPU a worker spends per model, without the event path and S3."""
    import tempfile

    from meshstream.commands.analyze import analyze_file

    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for key, data in models.items():
            path = Path(tmp) / key.replace("/", "__")
            path.write_bytes(data)
            paths.append(path)
        out = Path(tmp) / "thumbs"
        analyze = lambda: [analyze_file(p, thumbnails=out, turntable=8) for p in paths]  # noqa: E731
        saved = new.standard_views, new.turntable
        try:  # analyze_file imports them from processors.thumbnails at call time
            new.standard_views, new.turntable = old.standard_views, old.turntable
            t_old = cpu(analyze, repeat)
        finally:
            new.standard_views, new.turntable = saved
        return t_old, cpu(analyze, repeat)


def png_table(meshes: list) -> None:
    images = []
    for mesh in meshes:
        prep = new._prepare(mesh)
        for view, (az, el) in new.VIEWS.items():
            frame = new._fit_view(prep, az, el)
            images += [new._draw(prep, az, el, s, frame, new.BASE_COLOR, False, new.BACKGROUND) for s in new.SIZES]
        frame = new._fit_turntable(prep, new.TURNTABLE_ELEVATION)
        images += [new._draw(prep, 45.0 * i, new.TURNTABLE_ELEVATION, 256, frame, new.BASE_COLOR, False,
                             new.BACKGROUND) for i in range(8)]

    def pillow(level):
        def enc(img):
            buf = io.BytesIO()
            Image.fromarray(img).save(buf, format="PNG", compress_level=level)
            return buf.getvalue()
        return enc

    import imagecodecs
    encoders = [
        ("Pillow level 6 (old)", pillow(6)),
        ("Pillow level 1", pillow(1)),
        ("libpng (imagecodecs) level 1, SUB filter", lambda img: bytes(imagecodecs.png_encode(
            img, level=1, filter=imagecodecs.PNG.FILTER.SUB))),
        ("zlib-ng level 2, no filter", lambda img: png.encode(img, use_palette=False)),
        ("product: palette if lossless, else ^", png.encode),
    ]
    paletted = sum(png.raster.palette(img.reshape(-1, 3))[0].size > 0 for img in images)
    print(f"\nPNG encoding of the new renderer's {len(images)} images of the model set "
          f"({paletted} have <= 256 colours and go indexed):")
    print(f"{'encoder':40} {'CPU ms':>8} {'ms/image':>9} {'MiB':>7} {'x old CPU':>10}")
    base = None
    for name, enc in encoders:
        out = []
        t = cpu(lambda: out.__setitem__(slice(None), [enc(img) for img in images]), 3)
        base = base or t
        size = sum(len(b) for b in out)
        assert all((np.asarray(Image.open(io.BytesIO(b)).convert("RGB")) == img).all()
                   for b, img in zip(out[:20], images[:20])), f"{name} is not lossless"
        print(f"{name:40} {t * 1e3:8.1f} {t * 1e3 / len(images):9.2f} {size / 2**20:7.2f} {base / t:9.1f}x")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", type=int, default=6, help="models from the bench set (old renderer ~2-3 s each)")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--triangles", type=int, default=1_000_000, help="the big mesh (0 skips it)")
    ap.add_argument("--contact-sheet", type=Path, help="also write the contact sheet PNG here")
    args = ap.parse_args()

    torus = trimesh.creation.torus(20.0, 5.0, major_sections=96, minor_sections=48)
    box = trimesh.creation.box(extents=(1.0, 1.0, 1.0))
    assert len(torus.faces) == 9216 and len(box.faces) == 12
    t = time.perf_counter()
    model_thumbnails(new, box)  # loads (or compiles) the kernels
    print(f"warm-up (load or compile the kernels): {time.perf_counter() - t:.2f} s wall; "
          f"{os.cpu_count()} CPUs; best of {args.repeat}; CPU = time.process_time()")
    print(f"\n{'model':34} {'triangles':>10} {'old ms':>10} {'new ms':>9} {'old/img':>9} {'new/img':>9} {'old/new':>9}")
    for name, mesh in (("torus (issue: <= 60 ms)", torus), ("1 mm box (issue: <= 30 ms)", box)):
        row(name, len(mesh.faces), cpu(lambda: model_thumbnails(old, mesh), args.repeat),
            cpu(lambda: model_thumbnails(new, mesh), args.repeat))

    hero = lambda module: module.standard_views(box, views=("isometric",), sizes=(256,))  # noqa: E731
    t_old, t_new = cpu(lambda: hero(old), args.repeat), min(cpu(lambda: hero(new), args.repeat) for _ in range(5))
    print(f"{'minimal workflow: 1 hero image, box':34} {12:>10,} {t_old * 1e3:10.1f} {t_new * 1e3:9.2f} "
          f"{t_old * 1e3:9.2f} {t_new * 1e3:9.2f} {t_old / t_new:8.1f}x")
    meshes = [trimesh.load(io.BytesIO(data), file_type="stl")
              for data in list(build_models(args.models).values())]
    if meshes:
        tris = int(np.mean([len(m.faces) for m in meshes]))
        t_old = cpu(lambda: [model_thumbnails(old, m) for m in meshes], args.repeat)
        t_new = cpu(lambda: [model_thumbnails(new, m) for m in meshes], args.repeat)
        row(f"bench set, {len(meshes)} models (mean tris)", tris, t_old, t_new, len(meshes))
        t_old, t_new = all_processors(build_models(args.models), args.repeat)
        row("all processors, same set (analyze)", tris, t_old, t_new, args.models, per_image=False)
    if args.triangles:
        big = torus_grid(args.triangles)
        row("big torus", len(big.faces), cpu(lambda: model_thumbnails(old, big), 1),
            cpu(lambda: model_thumbnails(new, big), 1))

    if meshes:
        png_table(meshes)
        gl_table(meshes, torus, box, args.repeat)
    if args.contact_sheet:
        contact_sheet(args.contact_sheet)
    return 0


def gl_table(meshes, torus, box, repeat: int) -> None:
    try:
        import thumbnails_gl
    except ImportError as e:
        print(f"\nmoderngl option skipped ({e}); `pip install moderngl` to measure it")
        return
    print("\nRasterizing pass by Mesa llvmpipe (moderngl, EGL, one thread) vs numba; same outlines, "
          "compositing and PNG; CPU per model in ms:")
    print(f"{'model':34} {'numba':>9} {'llvmpipe':>9} {'llvmpipe/numba':>15}")
    with thumbnails_gl.gl_rasterizer():
        model_thumbnails(new, box)  # shader compile, context warm-up
        gl = [cpu(lambda: model_thumbnails(new, torus), repeat), cpu(lambda: model_thumbnails(new, box), repeat),
              cpu(lambda: [model_thumbnails(new, m) for m in meshes], repeat) / len(meshes)]
        gl_img = new.render_image(torus, "isometric", 512)
    nb = [cpu(lambda: model_thumbnails(new, torus), repeat), cpu(lambda: model_thumbnails(new, box), repeat),
          cpu(lambda: [model_thumbnails(new, m) for m in meshes], repeat) / len(meshes)]
    for name, a, b in zip(("torus 9,216", "1 mm box", "bench set (per model)"), nb, gl):
        print(f"{name:34} {a * 1e3:9.1f} {b * 1e3:9.1f} {b / a:14.2f}x")
    from skimage.metrics import structural_similarity
    ssim = structural_similarity(gl_img, new.render_image(torus, "isometric", 512), channel_axis=2)
    print(f"SSIM of the torus isometric 512 px, llvmpipe vs numba rasterizing: {ssim:.4f}")


if __name__ == "__main__":
    raise SystemExit(main())
