"""Feature extraction on a GPU machine, for each Keras backend installed, in under six minutes.

    python benchmarks/bench_gpu.py [--data FOLDER] [--limit 1600] [--backbone efficientnet_lite2]
                                   [--backends jax,torch,tensorflow] [--variants 8]
                                   [--quality ROWS.npz] [--out FOLDER]

The photo folder holds class sub-folders (``*.jpg`` found recursively).  ``--variants
K`` first re-encodes each photo K ways (the eight flips and quarter turns,
then lower JPEG qualities) into a temporary folder: distinct files of the
same sizes, so that a small sample still gives thousands of cold photos.
For each backend, in a process of its own (``children/gpu_backend.py``):

* the bare forward pass on pre-decoded uint8 batches of 64 and 256 (views/s);
* decoding both default views from photos in memory: CPU threads, CPU
  processes, and the GPU decoder where installed (photos/s), and the share of
  the GPU decoder's views equal to Pillow's;
* cold ``transform`` (empty cache) with one view and with the two default
  views, batch 256 (photos/s), and the cold views/s as a share of the bare
  forward at batch 256.

Weights are random (``weights=None``: the same compute as ImageNet's, no
download), precision ``"auto"``.

``--quality ROWS.npz`` (written by ``tools/gpu_check.sh prepare`` on a CPU:
``paths`` relative to the photo folder, ``labels``, and ``X``, the default pipeline's
CPU features with the real ImageNet weights) also embeds those photos with
the real weights on this machine, decoded on the GPU and by Pillow, and
prints the 5-fold CV log-loss of each set of rows next to the CPU rows',
and the share of GPU-decoded rows within 1e-4 of the Pillow-decoded ones
under the same forward pass: the test for whether the two could share
cache rows. The table, headed by the CPU and GPU model, is printed and
written to ``gpu.csv`` in ``--out``.
"""

import os
import sys
import tempfile
import time
from pathlib import Path

import _common as bench

TURNS = (None, "FLIP_LEFT_RIGHT", "FLIP_TOP_BOTTOM", "ROTATE_180", "ROTATE_90", "ROTATE_270", "TRANSPOSE", "TRANSVERSE")


def _write_variants(task):
    """Re-encode one photo ``k`` ways: distinct content, the same pixel count."""
    from PIL import Image, ImageOps

    src, dst, k = task
    with Image.open(src) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
        for j in range(k):
            turn = TURNS[j % len(TURNS)]
            view = im if turn is None else im.transpose(getattr(Image.Transpose, turn))
            view.save(f"{dst}-{j}.jpg", quality=90 - 5 * (j // len(TURNS)))


def variants(paths, k):
    """``k`` re-encoded variants of each photo in a temporary folder, in a process pool."""
    from concurrent.futures import ProcessPoolExecutor

    folder = Path(tempfile.mkdtemp(prefix="bench_gpu_"))
    tasks = [(p, folder / f"{i:05d}", k) for i, p in enumerate(paths)]
    with ProcessPoolExecutor() as pool:
        list(pool.map(_write_variants, tasks, chunksize=8))
    return sorted(str(p) for p in folder.glob("*.jpg"))


def main():
    ap = bench.parser(__doc__)
    ap.add_argument("--limit", type=int, default=1600)
    ap.add_argument("--decode-limit", type=int, default=800)
    ap.add_argument("--backbone", default="efficientnet_lite2")
    ap.add_argument("--backends", default="jax,torch,tensorflow")
    ap.add_argument("--big-batch", type=int, default=256, help="the GPU batch (smaller for a dry run on a CPU)")
    ap.add_argument("--seconds", type=float, default=5.0, help="per bare-forward measure")
    ap.add_argument("--timeout", type=float, default=150.0, help="per backend")
    ap.add_argument("--variants", type=int, default=1, help="re-encoded variants of each photo (1: the photos alone)")
    ap.add_argument("--quality", help="an .npz of CPU rows to compare log-loss and rows with (see above)")
    opts = ap.parse_args()
    folder = bench.data_folder(opts.data)
    paths = sorted(str(p) for p in folder.rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if opts.variants > 1:
        t = time.perf_counter()
        paths = variants(paths, opts.variants)
        print(f"{len(paths)} variants written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    if len(paths) < 128:
        sys.exit(f"{folder} holds {len(paths)} JPEG photos; at least 128 are needed")
    args = {
        "paths": paths[: opts.limit + 64],
        "limit": opts.limit,
        "decode_limit": opts.decode_limit,
        "backbone": opts.backbone,
        "seconds": opts.seconds,
        "big": opts.big_batch,
        "folder": str(folder.resolve()),
        "quality": str(Path(opts.quality).resolve()) if opts.quality else None,
    }
    results = []
    for backend in opts.backends.split(","):
        try:
            __import__({"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}[backend])
        except ImportError:
            results.append({"backend": backend, "skipped": "not installed"})
            continue
        env = dict(os.environ, KERAS_BACKEND=backend, SKCATDOG_CACHE_DIR=tempfile.mkdtemp())
        t = time.perf_counter()
        try:
            result = bench.run_child("gpu_backend", args, env=env, timeout=opts.timeout)
        except RuntimeError as exc:
            results.append({"backend": backend, "skipped": str(exc).splitlines()[0][:300]})
            continue
        result["seconds"] = time.perf_counter() - t
        if "stopped" in result:
            result["note"] = result.pop("stopped")
        results.append(result)

    def cell(fn):
        def safe(r):
            try:
                return fn(r)
            except (KeyError, ZeroDivisionError):
                return "-"

        return safe

    rows = [
        ("runtime, precision", lambda r: f"{r['runtime']}, {r['precision']}"),
        ("bare forward b64 (views/s)", lambda r: f"{r['forward_b64']:,.0f}"),
        (f"bare forward b{opts.big_batch} (views/s)", lambda r: f"{r['forward_big']:,.0f}"),
        ("decode 2 views, 1 thread (photos/s)", lambda r: f"{r['decode_threads_1']:,.0f}"),
        ("decode 2 views, threads (photos/s)", lambda r: f"{r['decode_threads']:,.0f}"),
        ("decode 2 views, processes (photos/s)", lambda r: f"{r['decode_processes']:,.0f}"),
        (
            "processes / (cores x 1 thread)",
            lambda r: f"{r['decode_processes'] / (r['cores'] * r['decode_threads_1']):.2f}",
        ),
        ("GPU decoder (nvImageCodec) found", lambda r: "yes" if r["gpu_decoder"] else "no"),
        ("decode 2 views, GPU (photos/s)", lambda r: f"{r['decode_gpu']:,.0f}"),
        ("GPU views equal to Pillow's (share)", lambda r: f"{r['gpu_views_equal']:.4f}"),
        ("GPU views, mean level difference", lambda r: f"{r['gpu_views_mean_diff']:.4f}"),
        ("cold transform, 1 view (photos/s)", lambda r: f"{r['cold_1view']:,.0f}"),
        ("cold transform, 2 views (photos/s)", lambda r: f"{r['cold_2view']:,.0f}"),
        (f"cold views/s / bare forward b{opts.big_batch}, 1 view", lambda r: f"{r['cold_1view_ratio']:.2f}"),
        (f"cold views/s / bare forward b{opts.big_batch}, 2 views", lambda r: f"{r['cold_2view_ratio']:.2f}"),
        (
            "cold 2 views: forward / probing / store writes, share of the call",
            lambda r: " / ".join(f"{r[f'cold_2view_{k}_share']:.2f}" for k in ("forward", "probe", "store")),
        ),
    ]
    if opts.quality:
        rows += [
            ("photos embedded with the real weights", lambda r: f"{r['quality_photos']:,}"),
            ("5-fold log-loss, CPU rows (carried)", lambda r: f"{r['log_loss_cpu']:.5f}"),
            ("5-fold log-loss, GPU-decoded rows", lambda r: f"{r['log_loss_gpu_decoded']:.5f}"),
            ("5-fold log-loss, Pillow-decoded rows", lambda r: f"{r['log_loss_pillow_decoded']:.5f}"),
            (
                "GPU-decoded log-loss - CPU rows' (goal: within 0.001)",
                lambda r: f"{r['log_loss_gpu_decoded'] - r['log_loss_cpu']:+.5f}",
            ),
            ("GPU- vs Pillow-decoded rows within 1e-4", lambda r: f"{r['rows_within_1e-4']:.4f}"),
            ("GPU- vs Pillow-decoded rows, largest gap", lambda r: f"{r['rows_max_gap']:.2e}"),
        ]
    done = [r for r in results if "skipped" not in r]
    bench.write_result(
        "gpu",
        ["measure", *(r["backend"] for r in done)],
        [[label, *(cell(fn)(r) for r in done)] for label, fn in rows],
        title="On a GPU: decoding, the forward pass and cold transform per Keras backend",
        what=(
            f"{opts.backbone} with random weights (the same compute as ImageNet's), {len(args['paths'])} photos; "
            "each backend in a process of its own."
        ),
        out=opts.out,
        order=62,
    )
    for r in results:
        if "skipped" in r:
            print(f"{r['backend']}: skipped ({r['skipped']})")
        for key in ("note", "quality_error"):
            if key in r:
                print(f"{r['backend']}: {r[key]}")


if __name__ == "__main__":
    main()
