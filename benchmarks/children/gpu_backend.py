"""``bench_gpu.py``'s measures for one Keras backend (set by ``KERAS_BACKEND``), in a process of its own.

Prints ``RESULT {json}`` after each part, so a part that fails or runs out of time keeps the
figures before it.
"""

import json
import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common as bench
import keras
import numpy as np

from skcatdog import KerasEmbeddingTransformer, _engine
from skcatdog._engine import gpu as gpu_decoding
from skcatdog._engine.decode import DecodeJob, ThreadDecoder
from skcatdog._engine.processes import ProcessDecoder
from skcatdog._images import read_source
from skcatdog.backbones import get_backbone


def forward(args, out):
    """The bare forward pass at batch 64 and at the big batch, on random pixels (views/s)."""
    size = get_backbone(args["backbone"]).input_size
    precision = _engine.resolve_precision("auto", args["backbone"])
    runner = _engine.get_runner(args["backbone"], None, precision)
    out["precision"], out["runtime"] = precision, runner.runtime
    rng = np.random.default_rng(0)
    for b, key in ((64, "forward_b64"), (args["big"], "forward_big")):
        batch = rng.integers(0, 256, (b, size, size, 3), dtype=np.uint8)
        runner.forward(batch)  # the first call compiles for the shape
        out[key] = bench.images_per_second(runner.forward, batch, b, min_seconds=args["seconds"])


def decoders(args, out):
    """Both default views of photos held in memory: CPU threads, CPU processes, the GPU decoder."""
    size = get_backbone(args["backbone"]).input_size
    jobs = [
        DecodeJob(f"k{i}", read_source(p), ("crop", "full"))
        for i, p in enumerate(args["paths"][: args["decode_limit"]])
    ]

    def rate(decoder):
        t = time.perf_counter()
        n = sum(len(b.slots) for b in decoder.batches(jobs, size, args["big"]))
        return n / 2 / (time.perf_counter() - t)

    threads = os.cpu_count()
    out["cores"] = threads
    with ThreadPoolExecutor(threads) as pool:
        out["decode_threads_1"] = rate(ThreadDecoder(ThreadPoolExecutor(1), 2))
        out["decode_threads"] = rate(ThreadDecoder(pool, 2 * threads))
        ProcessDecoder(threads).batches(jobs[:8], size, 8).__next__()  # starts the workers
        out["decode_processes"] = rate(ProcessDecoder(threads))
        if not gpu_decoding.available():
            return
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


def cold(args, out):
    """Cold ``transform`` with one view and with two, and where the two-view call's time went."""
    paths = args["paths"]
    for views in (("crop",), ("crop", "full")):
        est = KerasEmbeddingTransformer(
            backbone=args["backbone"], weights=None, views=views, batch_size=args["big"], cache=tempfile.mkdtemp()
        )
        est.transform(paths[:64])  # builds and compiles outside the timing
        photos = paths[64 : 64 + args["limit"]]
        _engine.stats.reset()
        t = time.perf_counter()
        est.transform(photos)
        wall = time.perf_counter() - t
        spent = _engine.stats.snapshot()
        for phase in ("forward", "probe", "store"):
            out[f"cold_{len(views)}view_{phase}_share"] = spent[f"seconds_{phase}"] / wall
        out[f"cold_{len(views)}view"] = len(photos) / wall
        out[f"cold_{len(views)}view_ratio"] = len(photos) * len(views) / wall / out["forward_big"]


def quality(args, out):
    """The real weights' rows, decoded on the GPU and by Pillow, against the CPU rows carried in."""
    from skcatdog import make_default_pipeline

    ref = np.load(args["quality"])
    paths = [os.path.join(args["folder"], p) for p in ref["paths"]]
    labels = ref["labels"]
    rows = {"cpu": ref["X"]}
    for name, decoder in (("gpu_decoded", "gpu"), ("pillow_decoded", "pillow")):
        pipe = make_default_pipeline(backbone=args["backbone"], cache=tempfile.mkdtemp(), decoder=decoder)
        t = time.perf_counter()
        rows[name] = pipe[0].transform(paths)
        out[f"quality_{name}_seconds"] = time.perf_counter() - t
    for name, X in rows.items():
        out[f"log_loss_{name}"] = float(np.mean(bench.cv_log_loss(X, labels)))
    gap = np.abs(rows["gpu_decoded"] - rows["pillow_decoded"]).max(axis=1)
    out["rows_within_1e-4"] = float(np.mean(gap <= 1e-4))
    out["rows_max_gap"] = float(gap.max())
    out["quality_photos"] = len(paths)


def main(args):
    out = {"backend": keras.backend.backend(), "gpu": _engine.gpu_available(), "gpu_decoder": gpu_decoding.available()}
    for part in (forward, decoders, cold):
        part(args, out)
        bench.child_result(out)
    if args["quality"]:
        try:
            quality(args, out)
        except Exception as exc:  # noqa: BLE001  (the speed figures above still count)
            out["quality_error"] = f"{type(exc).__name__}: {exc}"[:300]
        bench.child_result(out)


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
