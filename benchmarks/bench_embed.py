"""Throughput of KerasEmbeddingTransformer on the shared Dogs vs Cats photos.

Prints Markdown tables to paste into the README, with the CPU model and core
count, because absolute figures move by up to 8x between machines of one
kind; the goals are ratios measured in this one process:

* each CPU runtime's bare forward pass of the same folded network on
  pre-decoded uint8 arrays: Keras/TensorFlow (the baseline), LiteRT with
  XNNPACK (what the engine uses), and where installed ONNX Runtime (via
  tf2onnx) and OpenVINO (on the LiteRT file); on CPUs with bf16 instructions
  (AMX or AVX-512 BF16) also Keras ``mixed_bfloat16`` and OpenVINO bf16
  (``bench_bf16.py`` measures their rows' quality);
* cold ``transform`` (empty cache, one view), in several calls, each against
  the bare forward of the runtime it used timed on either side of it;
* a naive loop in the style of the reference solution;
* warm ``transform`` of the default two views: in a fresh process on a cache
  holding at least 50,000 rows of other photos and models, and repeated in
  one process;
* ``GridSearchCV`` over 4 values of C with 5 folds on image paths (warm cache)
  against the same search on the precomputed features, in rounds of one each.

    python benchmarks/bench_embed.py [--backbone efficientnet_lite2] [--limit N]
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from _machine import cores, cpu_model  # noqa: E402  (benchmarks/, the script's folder)
from bench_bf16 import keras_bf16_model  # noqa: E402
from PIL import Image  # noqa: E402

from skcatdog import (  # noqa: E402
    KerasEmbeddingTransformer,
    _engine,  # noqa: E402
    config_context,
    load_image_folder,
)
from skcatdog._cpu import cpu_bf16_flags, cpu_has_bf16  # noqa: E402
from skcatdog._images import decode, read_source  # noqa: E402
from skcatdog._runtimes import openvino as _openvino  # noqa: E402
from skcatdog._store import default_cache_dir  # noqa: E402
from skcatdog._store import local_store as open_store  # noqa: E402
from skcatdog.backbones import PREPROCESSING, get_backbone  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dogs-vs-cats" / "train"
ROOT = Path(__file__).resolve().parents[1]
GRID = {"logisticregression__C": [0.1, 0.3, 1.0, 3.0]}


def rate(n, seconds):
    return n / seconds if seconds else float("inf")


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


def bare_rate(forward, arrays, batch):
    """Images/s of ``forward`` over fixed-shape batches, after one untimed batch."""
    shape = (batch, *arrays[0].shape)
    buf = np.zeros(shape, np.uint8)
    forward(buf)
    t = time.perf_counter()
    for start in range(0, len(arrays), batch):
        chunk = arrays[start : start + batch]
        buf[: len(chunk)] = chunk
        forward(buf)
    return rate(len(arrays), time.perf_counter() - t)


def openvino_forward(flat, threads):
    try:
        import openvino as ov
    except ImportError:
        return None
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "model.tflite"
        path.write_bytes(flat)
        core = ov.Core()
        compiled = core.compile_model(
            core.read_model(str(path)), "CPU", {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"}
        )
    request = compiled.create_infer_request()
    return lambda batch: request.infer({0: batch})


def onnxruntime_forward(model, size, threads):
    """ONNX Runtime on the same Keras model, converted by tf2onnx (if both are installed)."""
    try:
        import onnxruntime as ort
        import tensorflow as tf
        import tf2onnx
    except ImportError:
        return None
    spec = (tf.TensorSpec([None, size, size, 3], tf.uint8, name="pixels"),)
    proto, _ = tf2onnx.convert.from_function(tf.function(lambda x: model(x, training=False)), input_signature=spec)
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda batch: session.run(None, {name: batch})


def naive_loop(model, paths, spec, batch_size):
    """The reference solution's shape: PIL per image, preprocessing on the host, predict per batch."""
    import keras

    size = spec.input_size
    out = []
    for start in range(0, len(paths), batch_size):
        batch = [
            np.asarray(Image.open(p).convert("RGB").resize((size, size)), dtype=np.float32)
            for p in paths[start : start + batch_size]
        ]
        x = np.asarray(PREPROCESSING[spec.preprocessing](np.stack(batch), keras.ops), dtype=np.float32)
        out.append(model.predict(x, verbose=0)[0])
    return np.concatenate(out)


def fill_with_other_rows(cache, n_rows, width):
    """Rows of other photos and models, so lookups run against a store of realistic size."""
    store = open_store(cache)
    rng = np.random.default_rng(0)
    row = rng.standard_normal(width).astype(np.float32)
    for start in range(0, n_rows, 5000):
        store.put_many(
            (f"{'other-model-' + str(i % 3):0>24}/crop/{i:040x}", row) for i in range(start, min(start + 5000, n_rows))
        )


FRESH_PROCESS = """
import os, sys, time, json
os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
sys.path.insert(0, {root!r})
import numpy as np
import keras  # imported by any pipeline; not part of the timing
from skcatdog import KerasEmbeddingTransformer
paths = open({paths!r}).read().splitlines()
est = KerasEmbeddingTransformer(backbone={backbone!r}, cache={cache!r})
t = time.perf_counter()
rows = est.transform(paths)
first = time.perf_counter() - t
# The floor under it: one stat per photo, which the call makes too (in this process, after it).
t = time.perf_counter()
for p in paths:
    os.stat(p)
stat = time.perf_counter() - t
np.save({out!r}, rows)
print(json.dumps({{"seconds": first, "stat": stat}}))
"""


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_lite2")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N photos")
    parser.add_argument("--bare", type=int, default=256, help="photos in each bare-forward timing")
    parser.add_argument("--bare-rounds", type=int, default=5, help="alternating rounds of the bare forward timings")
    parser.add_argument("--other-rows", type=int, default=50_000, help="rows of other photos in the large cache")
    parser.add_argument("--fresh-runs", type=int, default=5, help="fresh processes timed (the median is reported)")
    parser.add_argument("--cold-segments", type=int, default=6, help="cold calls, each followed by a bare timing")
    parser.add_argument(
        "--grid-rounds", type=int, default=3, help="GridSearchCV rounds, each on features then on paths"
    )
    parser.add_argument("--data", default=str(DATA))
    args = parser.parse_args()

    import keras
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    paths, labels = load_image_folder(args.data)
    if args.limit:  # spread over both classes
        pick = np.linspace(0, len(paths) - 1, min(args.limit, len(paths))).round().astype(int)
        paths, labels = [paths[i] for i in pick], np.asarray(labels)[pick]
    paths, labels = list(paths), np.asarray(labels)
    n = len(paths)
    spec = get_backbone(args.backbone)
    size = spec.input_size
    precision = _engine.resolve_precision("auto", args.backbone)
    threads = cores()
    header = (
        f"{n} photos, {args.backbone} ({size} px), batch {args.batch_size}, CPU: {cpu_model()}, {threads} cores, "
        f"Python {platform.python_version()}, keras {keras.__version__} ({keras.backend.backend()}), "
        f"precision {precision}"
    )

    # Bare forward of each runtime on the same pre-decoded arrays.
    arrays = [decode(read_source(p), size, "crop") for p in paths[: args.bare]]
    # Each runtime's forward, then timed in alternating rounds: this machine's speed moves by 25%
    # within minutes, and one timing each puts the runtimes timed in a slow minute behind.
    forwards = {}
    with config_context(cpu_runtime="keras"):
        for p in ("float32", "mixed") if precision == "mixed" else ("float32",):
            keras_runner = _engine.get_runner(args.backbone, "imagenet", p)
            label = f"Keras ({keras.backend.backend()}) `predict_on_batch`, {p}"
            label += "" if forwards else " (baseline)"
            forwards[label] = (lambda b, r=keras_runner: r.model.predict_on_batch(b), args.batch_size)
    f32 = _engine.get_runner(args.backbone, "imagenet", "float32")
    if f32.runtime == "litert":
        lite, engine_step = f32.forward_pass, f32.forward_pass.step

        def lite_at(step):
            def forward(b):
                lite.set_step(step)
                return lite(b)

            return forward

        forwards[f"LiteRT + XNNPACK, {threads} threads, {engine_step} images per invoke (the engine's float32)"] = (
            lite_at(engine_step),
            args.batch_size,
        )
        for batch in sorted({16, args.batch_size}):  # the whole batch in one invoke (the engine before run J)
            forwards[f"LiteRT + XNNPACK, {threads} threads, batch {batch} in one invoke"] = (lite_at(batch), batch)
        ort_forward = onnxruntime_forward(f32.model, size, threads)
        if ort_forward is not None:
            forwards["ONNX Runtime CPU, tf2onnx conversion, f32"] = (ort_forward, args.batch_size)
        ov_forward = openvino_forward(lite.flat, threads)
        if ov_forward is not None:
            forwards["OpenVINO CPU, same converted model, f32"] = (ov_forward, args.batch_size)
    if cpu_has_bf16() and keras.backend.backend() == "tensorflow":
        # The bf16 runtimes, on CPUs with bf16 instructions (see bench_bf16.py for their quality).
        flags = "/".join(cpu_bf16_flags())
        bf16_keras = keras_bf16_model(spec)
        forwards[f"Keras (tensorflow) `predict_on_batch`, `mixed_bfloat16` ({flags})"] = (
            bf16_keras.predict_on_batch,
            args.batch_size,
        )
        if _openvino.available():
            name = _engine.fingerprint(spec, "imagenet", "bfloat16")
            bf16 = _openvino.Forward(f32.model, spec, name=name, directory=default_cache_dir() / _openvino.ID)
            forwards[f"OpenVINO CPU, bf16, converted from Keras ({flags})"] = (bf16, args.batch_size)
    rounds = {label: [] for label in forwards}
    for _ in range(args.bare_rounds):
        for label, (forward, batch) in forwards.items():
            rounds[label].append(bare_rate(forward, arrays, batch))
    if f32.runtime == "litert":
        f32.forward_pass.set_step(engine_step)
    bare = {label: float(np.median(r)) for label, r in rounds.items()}
    runner = _engine.get_runner(args.backbone, "imagenet", precision)
    used = bare_rate(lambda b: runner.forward(b), arrays, args.batch_size)
    # Decoding alone (read, decode both default views, resize) with the engine's thread count:
    # against the forward pass, it says which of the two bounds a cold run.
    from concurrent.futures import ThreadPoolExecutor

    from skcatdog._images import decode_views

    sample = paths[: args.bare]
    with ThreadPoolExecutor(threads) as pool:
        _, decode_s = timed(
            lambda: list(pool.map(lambda p: decode_views(read_source(p), size, ("crop", "full")), sample))
        )
    decode_rate = rate(2 * len(sample), decode_s)
    baseline = next(iter(bare.values()))

    with tempfile.TemporaryDirectory() as cache:
        # Cold, one view, so that images/s compares with one bare forward pass per image.
        # This machine's speed drifts within minutes, so the photos go in segments, each
        # a cold call of its own with the bare forward timed again right after it: each
        # segment's ratio is against the mean of the bare timings on either side of it.
        est1 = KerasEmbeddingTransformer(backbone=args.backbone, batch_size=args.batch_size, cache=cache, views="full")
        around, cold_parts, cold_ratios, cold_s = [used], [], [], 0.0
        step = args.batch_size * max(1, round(n / args.cold_segments / args.batch_size))  # whole batches
        for start in range(0, n, step):
            segment = paths[start : start + step]
            part, seconds = timed(lambda s=segment: est1.transform(s))
            around.append(bare_rate(lambda b: runner.forward(b), arrays, args.batch_size))
            cold_parts.append(part)
            cold_s += seconds
            cold_ratios.append(rate(len(segment), seconds) / ((around[-2] + around[-1]) / 2))
        cold = np.concatenate(cold_parts)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # The default two views: 'full' is cached now, 'crop' is computed here.
        est = KerasEmbeddingTransformer(backbone=args.backbone, batch_size=args.batch_size, cache=cache)
        X = est.transform(paths)
        width = spec.embedding_dim + spec.n_classes
        fill_with_other_rows(cache, args.other_rows, width)
        n_rows = len(open_store(cache))

        with tempfile.TemporaryDirectory() as tmp:
            out, listing, script_file = (os.path.join(tmp, name) for name in ("rows.npy", "paths.txt", "fresh.py"))
            Path(listing).write_text("\n".join(paths))
            Path(script_file).write_text(
                FRESH_PROCESS.format(root=str(ROOT), paths=listing, backbone=args.backbone, cache=cache, out=out)
            )
            fresh, fresh_stat = [], []
            for _ in range(args.fresh_runs):
                proc = subprocess.run([sys.executable, script_file], capture_output=True, text=True, check=True)
                timing = json.loads(proc.stdout.strip().splitlines()[-1])
                fresh.append(timing["seconds"])
                fresh_stat.append(timing["stat"] / timing["seconds"])
                assert np.array_equal(np.load(out), X), "a fresh process read other rows"
            fresh_s, fresh_best = float(np.median(fresh)), min(fresh)
        repeated_s = min(timed(lambda: est.transform(paths))[1] for _ in range(5))
        # What the repeated call cannot go below: one stat per photo (see DigestMemo).
        stat_s = min(timed(lambda: [os.stat(p) for p in paths])[1] for _ in range(5))

        cv = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
        on_paths = GridSearchCV(
            make_pipeline(est, LogisticRegression(max_iter=1000)), GRID, cv=cv, scoring="neg_log_loss"
        )
        on_features = GridSearchCV(
            make_pipeline(LogisticRegression(max_iter=1000)), GRID, cv=cv, scoring="neg_log_loss"
        )
        # In rounds, each search on features right before the same search on paths: the
        # machine drifts by more than the gap between the two within minutes.
        grid = []
        on_features.fit(X, labels)  # untimed: a first fit pays for imports and first-call set-up
        for _ in range(args.grid_rounds):
            _, features_s = timed(lambda: on_features.fit(X, labels))
            _, paths_s = timed(lambda: on_paths.fit(paths, labels))
            grid.append((features_s, paths_s))
            assert abs(on_paths.best_score_ - on_features.best_score_) < 1e-9, (
                on_paths.best_score_,
                on_features.best_score_,
            )
        grid_ratios = [p / f for f, p in grid]

    naive_core = spec.build_model("imagenet")
    naive_core.predict(np.zeros((1, size, size, 3), np.float32), verbose=0)
    naive_paths = paths[: args.bare]
    naive, naive_s = timed(lambda: naive_loop(naive_core, naive_paths, spec, args.batch_size))
    naive_rate = rate(len(naive_paths), naive_s)

    print(f"\n{header}\n")
    print(
        f"| bare forward pass of the same folded network on pre-decoded arrays, median of {args.bare_rounds} "
        "alternating rounds | images/s | vs Keras | rounds |"
    )
    print("|---|---:|---:|---|")
    for name, r in bare.items():
        print(f"| {name} | {r:,.1f} | {r / baseline:.2f} | {', '.join(f'{x:.0f}' for x in rounds[name])} |")
    print(
        f"\nthe engine's forward pass runs on **{runner.runtime}** ({used:,.1f} images/s); decoding alone, "
        f"{threads} threads, gives {decode_rate:,.1f} views/s ({decode_rate / used:.2f}x the forward pass)\n"
    )
    print("| run | images/s | ratio |")
    print("|---|---:|---:|")
    cold_rate = rate(n, cold_s)
    print(
        f"| cold `transform`, one view (empty cache), {len(cold_ratios)} calls of up to {step:,} photos "
        f"| {cold_rate:,.1f} | median {np.median(cold_ratios):.2f} of the engine's bare forward timed on either "
        f"side of each call (calls: {', '.join(f'{r:.2f}' for r in cold_ratios)}; bare: "
        f"{', '.join(f'{r:.1f}' for r in around)} images/s); all calls together {cold_rate / np.mean(around):.2f} |"
    )
    print(f"| naive loop: PIL + `model.predict` per batch | {naive_rate:,.1f} | {naive_rate / used:.2f} of it |")
    print(
        f"| warm `transform`, two views, fresh process, cache of {n_rows:,} rows | {rate(n, fresh_s):,.0f} | "
        f"median of {len(fresh)} processes (best {rate(n, fresh_best):,.0f}); a stat of every photo took "
        f"{np.median(fresh_stat):.0%} of the call's time in the same process (median) |"
    )
    print(f"| warm `transform`, two views, repeated in one process | {rate(n, repeated_s):,.0f} | |")
    print(
        f"| `os.stat` of the same photos alone, the repeated call's floor | {rate(n, stat_s):,.0f} | "
        f"{stat_s / repeated_s:.0%} of the repeated call's time |"
    )
    print(f"| peak RSS after the cold run | {peak_mb:,.0f} MB | |")
    print(f"\nGridSearchCV, {len(GRID['logisticregression__C'])} values of C x 5 folds, LogisticRegression:\n")
    print("| round | precomputed features (s) | image paths, warm cache (s) | paths vs features |")
    print("|---|---:|---:|---:|")
    for k, ((features_s, paths_s), ratio) in enumerate(zip(grid, grid_ratios, strict=True), 1):
        print(f"| {k} | {features_s:.2f} | {paths_s:.2f} | {ratio:.2f} |")
    print(f"| median | | | **{np.median(grid_ratios):.2f}** |")
    corr = np.corrcoef(naive.ravel(), cold[: len(naive_paths)].ravel())[0, 1]
    print(f"\nnaive vs skcatdog embeddings correlation {corr:.4f} (the naive loop resizes without antialiasing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
