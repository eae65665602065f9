"""Feature extraction on a GPU machine, for each Keras backend installed, in under six minutes.

    python benchmarks/bench_gpu.py FOLDER [--limit 1600] [--backbone efficientnet_lite2]
                                   [--backends jax,torch,tensorflow] [--variants 8]
                                   [--quality ROWS.npz]

FOLDER holds photos (any layout; ``*.jpg`` found recursively).  ``--variants
K`` first re-encodes each photo K ways (the eight flips and quarter turns,
then lower JPEG qualities) into a temporary folder: distinct files of the
same sizes, so that a small carried sample still gives thousands of cold
photos.  For each backend, in a process of its own, prints:

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
``paths`` relative to FOLDER, ``labels``, and ``X``, the default pipeline's
CPU features with the real ImageNet weights) also embeds those photos with
the real weights on this machine, decoded on the GPU and by Pillow, and
prints the 5-fold CV log-loss of each set of rows next to the CPU rows',
and the share of GPU-decoded rows within 1e-4 of the Pillow-decoded ones
under the same forward pass: the test for whether the two could share
cache rows. The table carries the CPU and GPU model and
is written to ``benchmarks/results/bench_gpu.json`` and ``.txt``.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _machine import machine_line

ROOT = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, time, tempfile
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
import numpy as np
args = json.loads(sys.argv[1])
import keras
from concurrent.futures import ThreadPoolExecutor
from skcatdog import KerasEmbeddingTransformer, config_context, _engine
from skcatdog._engine.decode import DecodeJob, ThreadDecoder
from skcatdog._engine.processes import ProcessDecoder
from skcatdog._engine import gpu as gpu_decoding
from skcatdog._images import read_source
from skcatdog.backbones import get_backbone

paths = args["paths"]
size = get_backbone(args["backbone"]).input_size
out = {"backend": keras.backend.backend(), "gpu": _engine.gpu_available(), "gpu_decoder": gpu_decoding.available()}
precision = _engine.resolve_precision("auto", args["backbone"])
runner = _engine.get_runner(args["backbone"], None, precision)
out["precision"], out["runtime"] = precision, runner.runtime
rng = np.random.default_rng(0)
for b in (64, args["big"]):
    batch = rng.integers(0, 256, (b, size, size, 3), dtype=np.uint8)
    runner.forward(batch); runner.forward(batch)
    n, t = 0, time.perf_counter()
    while time.perf_counter() - t < args["seconds"]:
        runner.forward(batch); n += b
    out["forward_b64" if b == 64 else "forward_big"] = n / (time.perf_counter() - t)

jobs = []
for i, p in enumerate(paths[: args["decode_limit"]]):
    s = read_source(p)  # bytes kept: decoding from memory
    jobs.append(DecodeJob(f"k{i}", s, ("crop", "full")))
def rate(decoder):
    t = time.perf_counter()
    n = sum(len(b.slots) for b in decoder.batches(jobs, size, args["big"]))
    return n / 2 / (time.perf_counter() - t)
threads = os.cpu_count()
out["cores"] = threads
with ThreadPoolExecutor(threads) as pool:
    out["decode_threads_1"] = rate(ThreadDecoder(ThreadPoolExecutor(1), 2))
    out["decode_threads"] = rate(ThreadDecoder(pool, 2 * threads))
    ProcessDecoder(threads).batches(jobs[:8], size, 8).__next__()  # start the workers
    out["decode_processes"] = rate(ProcessDecoder(threads))
    if gpu_decoding.available():
        dec = gpu_decoding.GPUDecoder(ThreadDecoder(pool, 2 * threads))
        rate(dec)
        out["decode_gpu"] = rate(dec)
        # How close the GPU's views are to Pillow's: equal views could share cache rows.
        pillow = {}
        for b in ThreadDecoder(pool, 2 * threads).batches(jobs, size, args["big"]):
            for j, slot in enumerate(b.slots):
                pillow[slot] = np.array(b.pixels[j])
        equal, diffs = 0, []
        for b in dec.batches(jobs, size, args["big"]):
            pixels = np.asarray(keras.ops.convert_to_numpy(b.pixels))
            for j, slot in enumerate(b.slots):
                d = np.abs(pixels[j].astype(int) - pillow[slot])
                equal += int(d.max() == 0)
                diffs.append(d.mean())
        out["gpu_views_equal"] = equal / max(1, len(diffs))
        out["gpu_views_mean_diff"] = float(np.mean(diffs))

for views in (("crop",), ("crop", "full")):
    cache = tempfile.mkdtemp()
    est = KerasEmbeddingTransformer(
        backbone=args["backbone"], weights=None, views=views, batch_size=args["big"], cache=cache
    )
    est.transform(paths[:64])  # builds and compiles outside the timing
    cold = paths[64 : 64 + args["limit"]]
    _engine.stats.reset()
    t = time.perf_counter()
    est.transform(cold)
    wall = time.perf_counter() - t
    photos = len(cold) / wall
    # Where the call's time went: the forward pass's share of it, and the threads' probing
    # (hashing, headers, memo writes: done before the first batch) and store writes.
    spent = _engine.stats.snapshot()
    for phase in ("forward", "probe", "store"):
        out[f"cold_{len(views)}view_{phase}_share"] = spent[f"seconds_{phase}"] / wall
    out[f"cold_{len(views)}view"] = photos
    out[f"cold_{len(views)}view_ratio"] = photos * len(views) / out["forward_big"]
print("RESULT " + json.dumps(out), flush=True)  # kept if what follows fails or runs out of time


def quality():
    from sklearn.model_selection import StratifiedKFold
    from skcatdog import kaggle_log_loss, make_default_pipeline
    ref = np.load(args["quality"])
    qpaths = [os.path.join(args["folder"], p) for p in ref["paths"]]
    labels = ref["labels"]
    rows = {"cpu": ref["X"]}
    for name, decoder in (("gpu_decoded", "auto"), ("pillow_decoded", "threads")):
        with config_context(decoder=decoder):
            pipe = make_default_pipeline(backbone=args["backbone"], cache=tempfile.mkdtemp())
            t = time.perf_counter()
            rows[name] = pipe[0].transform(qpaths)
            out[f"quality_{name}_seconds"] = time.perf_counter() - t
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    for name, X in rows.items():
        losses = []
        for train, test in cv.split(X, labels):
            clf = pipe[1:].fit(X[train], labels[train])
            losses.append(kaggle_log_loss(labels[test], clf.predict_proba(X[test]), labels=clf.classes_))
        out[f"log_loss_{name}"] = float(np.mean(losses))
    gap = np.abs(rows["gpu_decoded"] - rows["pillow_decoded"]).max(axis=1)
    out["rows_within_1e-4"] = float(np.mean(gap <= 1e-4))
    out["rows_max_gap"] = float(gap.max())
    out["quality_photos"] = len(qpaths)


if args["quality"]:
    try:
        quality()
    except Exception as exc:  # the speed figures above still count
        out["quality_error"] = f"{type(exc).__name__}: {exc}"[:300]
print("RESULT " + json.dumps(out))
"""


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
    ap = argparse.ArgumentParser()
    ap.add_argument("folder")
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
    paths = sorted(str(p) for p in Path(opts.folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
    if opts.variants > 1:
        t = time.perf_counter()
        paths = variants(paths, opts.variants)
        print(f"{len(paths)} variants written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
    if len(paths) < 128:
        sys.exit(f"{opts.folder} holds {len(paths)} JPEG photos; at least 128 are needed")
    args = {
        "paths": paths[: opts.limit + 64],
        "limit": opts.limit,
        "decode_limit": opts.decode_limit,
        "backbone": opts.backbone,
        "seconds": opts.seconds,
        "big": opts.big_batch,
        "folder": str(Path(opts.folder).resolve()),
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
        note = None
        try:
            p = subprocess.run(
                [sys.executable, "-c", CHILD, json.dumps(args)],
                env=env,
                capture_output=True,
                text=True,
                timeout=opts.timeout,
            )
            stdout, stderr, code = p.stdout, p.stderr, p.returncode
        except subprocess.TimeoutExpired as exc:
            stdout, stderr, code = exc.stdout or "", exc.stderr or "", None
            note = f"stopped after {opts.timeout:.0f} s"
        stdout = stdout.decode() if isinstance(stdout, bytes) else stdout
        stderr = stderr.decode() if isinstance(stderr, bytes) else stderr
        line = [x for x in stdout.splitlines() if x.startswith("RESULT ")]
        if code and not note:
            last = (stderr.strip() or stdout.strip() or f"exit {code}").splitlines()[-1]
            note = f"failed (exit {code}): {last[:200]}"
        if not line:
            results.append({"backend": backend, "skipped": note or "no result"})
            continue
        # The child prints what it has after each part: the last line holds the most.
        result = dict(json.loads(line[-1][7:]), seconds=time.perf_counter() - t)
        if note:
            result["note"] = note
        results.append(result)

    def cell(fn):
        def safe(r):
            try:
                return fn(r)
            except (KeyError, ZeroDivisionError):
                return "-"

        return safe

    head = f"bench_gpu: {opts.backbone}, {len(args['paths'])} photos; {machine_line()}"
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
    lines = [head, "", "| measure | " + " | ".join(r["backend"] for r in done) + " |", "|---|" + "---:|" * len(done)]
    lines += [f"| {label} | " + " | ".join(cell(fn)(r) for r in done) + " |" for label, fn in rows]
    lines += [f"\n{r['backend']}: skipped ({r['skipped']})" for r in results if "skipped" in r]
    lines += [f"\n{r['backend']}: {r['note']}" for r in done if "note" in r]
    lines += [f"\n{r['backend']}: quality not measured ({r['quality_error']})" for r in done if "quality_error" in r]
    text = "\n".join(lines)
    print(text)
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_gpu.txt").write_text(text + "\n")
    (out / "bench_gpu.json").write_text(json.dumps({"machine": machine_line(), "results": results}, indent=1))


if __name__ == "__main__":
    main()
