"""A simulated million: each stage of an audit and of a cluster precompute, timed at scale.

    python benchmarks/bench_scale.py [--data FOLDER] [--rows 1000000] [--photos 200000]

The stages, each in a new process so that its peak resident memory is its own:

1. **rows**: ``--rows`` float32 embeddings derived from real ones (``--base-photos`` photos
   embedded once and kept in ``--base``): each row mixes three real rows of one class with
   multiplicative noise and dropped columns, and takes that class as its label. Among them
   1% (at most 1,000) planted near copies at known cosine distances under 0.2, 100 exact
   copies, and 0.1% flipped labels (at least 10).
2. **near copies**: ``find_issues(names, y, embeddings=E, checks=["exact_duplicate",
   "near_duplicate"])``, and the planted copies found.
3. **label errors**: ``find_issues(names, y, embeddings=E, checks=["label_error"])``, the
   planted flips found and the share of rows flagged.
4. **precompute**: ``--photos`` small JPEG files (32 x 32, written once into
   ``--photo-cache`` and reused) embedded by a tiny registered backbone with
   ``KerasEmbeddingTransformer(cache="file://...").precompute(paths, client=client)`` on
   ``LocalCluster(n_workers=2, threads_per_worker=1)`` into an empty shared store, twice: the
   first run and a warm second one. The client is this benchmark's child process: its CPU
   time as a share of the wall time, its memory growth per photo, the rows each run forwards,
   the second run's time over the first's, and the rows the store holds.

Seconds are wall and CPU seconds of the stage's process (for precompute, the client's; the
workers' CPU seconds are in the result). Peak memory is the process's, the rows included.
Writes ``scale.csv``; ``--rows 100000 --photos 5000`` takes a couple of minutes.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from multiprocessing import Pool
from pathlib import Path

import _common as bench

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402

HEADER = ["stage", "items", "seconds", "CPU seconds", "peak memory (GB)", "peak / matrix", "result"]
PHOTOS_PER_FOLDER = 1000
#: Photo files the precompute stage warms its processes up on, beyond ``--photos``.
WARM_UP = 16


def base_rows(args):
    """The real embeddings and 0/1 labels the rows are derived from, computed once into ``--base``."""
    path = Path(args.base)
    if path.exists():
        return path
    from skcatdog import KerasEmbeddingTransformer

    paths, labels = bench.load_photos(bench.data_folder(args.data), limit=args.base_photos)
    embeddings = np.asarray(KerasEmbeddingTransformer().transform(paths), dtype=np.float32)
    _, codes = np.unique(labels, return_inverse=True)
    with open(path, "wb") as f:
        np.savez(f, embeddings=embeddings, labels=codes.astype(np.int64))
    return path


# --------------------------------------------------------------------------------------------
# The photo files


def _write_folder(job):
    folder, first, count = job
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    for i in range(first, first + count):
        path = folder / f"{i:07d}.jpg"
        if path.exists():
            continue
        rng = np.random.default_rng(i)
        small = Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
        tmp = path.with_suffix(".tmp")
        small.resize((32, 32), Image.BILINEAR).save(tmp, format="JPEG", quality=90)
        tmp.rename(path)  # a photo is there whole or not at all
    return count


def photo_files(folder, n):
    """``n`` distinct 32 x 32 JPEG files under ``folder`` (written once, then reused)."""
    folder = Path(folder)
    if any(int(m.name.split("-")[1]) >= n for m in folder.glob("complete-*")):
        return folder
    jobs = [
        (folder / f"{k:04d}", k * PHOTOS_PER_FOLDER, min(PHOTOS_PER_FOLDER, n - k * PHOTOS_PER_FOLDER))
        for k in range(-(-n // PHOTOS_PER_FOLDER))
    ]
    t = time.perf_counter()
    with Pool(bench.cores()) as pool:
        done = 0
        for count in pool.imap_unordered(_write_folder, jobs):
            done += count
            if done % 20_000 < count:
                print(f"  photo files: {done:,}/{n:,}", flush=True)
    (folder / f"complete-{n}").touch()
    print(f"  {n:,} photo files in {time.perf_counter() - t:.0f} s", flush=True)
    return folder


# --------------------------------------------------------------------------------------------
# Stages


def audit_stage(stage, base, args):
    payload = {
        "stage": stage,
        "base": str(base),
        "rows": args.rows,
        "seed": 0,
        "near_copies": min(1000, args.rows // 100),
        "flips": max(10, args.rows // 1000),
    }
    return bench.run_child("scale_stage", payload, pythonpath=[bench.ROOT], timeout=args.timeout)


def precompute_stage(folder, args):
    work = Path(tempfile.mkdtemp(prefix="bench-scale-store-"))
    payload = {"stage": "precompute", "folder": str(folder), "photos": args.photos, "store": str(work / "store")}
    # The host's read-through copies go with the stores, so every run starts cold.
    env = dict(os.environ, SKCATDOG_CACHE_DIR=str(work / "cache"))
    try:
        return bench.run_child("scale_stage", payload, env=env, pythonpath=[bench.ROOT], timeout=args.timeout)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _row(stage, items, r, result, matrix=True):
    peak = r["peak_bytes"]
    ratio = peak / r["matrix_bytes"] if matrix else None
    return [stage, items, r["seconds"], r["cpu_seconds"], peak / 1e9, ratio, result]


def _share(found, total):
    return f"{found:,}/{total:,}"


def audit_rows(near, labels, args):
    out = []
    planted = near["planted"]
    out.append(
        _row(
            "rows: build the embeddings",
            args.rows,
            near["rows"],
            f"{planted['near']:,} near copies, {planted['exact']:,} exact copies and "
            f"{planted['flips']:,} flipped labels planted",
        )
    )
    s = near.get("stage")
    if s:
        result = (
            f"{_share(s['near_found'], planted['near'])} planted near copies and "
            f"{_share(s['exact_found'], planted['exact'])} exact copies found ({s['path']})"
        )
        out.append(_row("near copies", args.rows, s, result))
    s = labels and labels.get("stage")
    if s:
        result = (
            f"{_share(s['flips_found'], planted['flips'])} flipped labels found; "
            f"{100 * s['flagged'] / args.rows:.2f}% of the rows flagged ({s['path']})"
        )
        out.append(_row("label errors", args.rows, s, result))
    elif labels is not None:
        out.append(["label errors", args.rows, None, None, None, None, "not run: find_issues takes no embeddings="])
    return out


def precompute_rows(r):
    out, first = [], r["first"]
    rows = r["photos"] * r["views"]
    for name, run in (("first", first), ("second", r.get("second"))):
        if run is None:
            continue
        share = 100 * run["cpu_seconds"] / run["seconds"]
        growth, workers = run["rss_growth_bytes"] / r["photos"], run["workers_cpu_seconds"]
        result = (
            f"{run['forwarded']:,} rows forwarded; client CPU {share:.1f}% of the wall time, memory "
            f"+{growth:,.0f} B per photo; workers' CPU {workers:,.0f} s"
        )
        if "files_read" in run:
            result += f"; the workers read {run['files_read']:,} photo files to identify them"
        if name == "second":
            result += f"; {run['seconds'] / first['seconds']:.3f} of the first run's time"
            if "store_rows" in r:
                evicted = "none evicted" if r["store_rows"] == rows else f"{rows - r['store_rows']:,} missing"
                result += f"; the store holds {r['store_rows']:,} rows of {rows:,} ({evicted})"
        out.append(_row(f"precompute on 2 workers, {name} run", r["photos"], run, result, matrix=False))
    return out


def _progress(what, r):
    if r is None:
        print(f"  {what}: not run", flush=True)
        return
    extra = {k: v for k, v in r.items() if k not in ("seconds", "cpu_seconds", "peak_bytes", "matrix_bytes")}
    peak = r["peak_bytes"] / 1e9
    print(f"  {what} in {r['seconds']:.1f} s (CPU {r['cpu_seconds']:.1f} s), peak {peak:.2f} GB; {extra}", flush=True)


def main():
    ap = bench.parser(__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="embeddings simulated (default %(default)s)")
    ap.add_argument("--photos", type=int, default=200_000, help="photo files precomputed (default %(default)s)")
    ap.add_argument(
        "--stages", nargs="+", default=["near", "labels", "precompute"], choices=["near", "labels", "precompute"]
    )
    ap.add_argument("--base-photos", type=int, default=2000, help="real photos the rows are derived from")
    ap.add_argument("--base", default=str(Path(tempfile.gettempdir()) / "skcatdog-bench-scale-base.npz"))
    ap.add_argument("--photo-cache", default=str(Path(tempfile.gettempdir()) / "skcatdog-bench-scale-photos"))
    ap.add_argument("--timeout", type=float, default=1800)
    args = ap.parse_args()
    load = os.getloadavg()[0]
    base = base_rows(args)
    near = labels = pre = None
    if "near" in args.stages or "labels" in args.stages:
        print(f"stages 1-2: {args.rows:,} rows built, then their exact and near copies", flush=True)
        near = audit_stage("near", base, args)
        _progress("rows built", near["rows"])
        _progress("copies searched", near.get("stage"))
    if "labels" in args.stages:
        print(f"stage 3: label errors among {args.rows:,} rows", flush=True)
        labels = audit_stage("labels", base, args)
        _progress("labels checked", labels.get("stage"))
    if "precompute" in args.stages:
        print(f"stage 4: {args.photos:,} photo files precomputed on LocalCluster(n_workers=2), twice", flush=True)
        pre = precompute_stage(photo_files(args.photo_cache, args.photos + WARM_UP), args)
        _progress("first run", pre["first"])
        _progress("second run", pre.get("second"))
    table = (audit_rows(near, labels, args) if near else []) + (precompute_rows(pre) if pre else [])
    software = bench.versions("faiss-cpu", "dask", "scikit-learn")
    bench.write_result(
        "scale",
        HEADER,
        table,
        title="A simulated million",
        what=(
            f"{args.rows:,} x 1,280 float32 embeddings derived from {args.base_photos:,} real ones, with planted "
            "near copies (cosine distance under 0.2), exact copies and flipped labels, audited through "
            f"find_issues(embeddings=...); {args.photos:,} photo files of 32 x 32 pixels precomputed by a tiny "
            "registered backbone (8 columns) on LocalCluster(n_workers=2, threads_per_worker=1) into a "
            "file:// shared store, cold then warm. Each stage in its own process: wall and CPU seconds (the "
            "client's, for precompute), peak resident memory (the rows included) and its ratio to the matrix."
        ),
        machine=bench.machine_line(f"{software}; load average {load:.1f} at the start"),
        order=51,  # after the cluster's overhead on one machine
        out=args.out,
    )


if __name__ == "__main__":
    main()
