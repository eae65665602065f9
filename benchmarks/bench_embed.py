"""Throughput of KerasEmbeddingTransformer on a folder of photos (``--data``).

Writes ``embed_runtimes.csv`` and ``embed_engine.csv`` (and prints them) with
the machine line, because absolute figures move by up to 8x between machines
of one kind; the goals are ratios measured in this one process:

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

    python benchmarks/bench_embed.py [--data FOLDER] [--backbone efficientnet_lite2] [--limit N]
"""

import os
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common as bench
import numpy as np
from bench_bf16 import keras_bf16_model
from PIL import Image

from skcatdog import KerasEmbeddingTransformer, _engine, config_context
from skcatdog._cpu import cpu_bf16_flags, cpu_has_bf16
from skcatdog._images import decode, read_source
from skcatdog._store import local_store as open_store
from skcatdog.backbones import PREPROCESSING, get_backbone

GRID = {"logisticregression__C": [0.1, 0.3, 1.0, 3.0]}


def rate(n, seconds):
    return n / seconds if seconds else float("inf")


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t


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


def main():
    parser = bench.parser(__doc__)
    parser.add_argument("--backbone", default="efficientnet_lite2")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="use only N photos, spread over the classes")
    parser.add_argument("--bare", type=int, default=256, help="photos in each bare-forward timing")
    parser.add_argument("--bare-rounds", type=int, default=5, help="alternating rounds of the bare forward timings")
    parser.add_argument("--other-rows", type=int, default=50_000, help="rows of other photos in the large cache")
    parser.add_argument("--fresh-runs", type=int, default=5, help="fresh processes timed (the median is reported)")
    parser.add_argument("--cold-segments", type=int, default=6, help="cold calls, each followed by a bare timing")
    parser.add_argument(
        "--grid-rounds", type=int, default=3, help="GridSearchCV rounds, each on features then on paths"
    )
    args = parser.parse_args()

    import keras
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.pipeline import make_pipeline

    paths, labels = bench.load_photos(bench.data_folder(args.data), args.limit)
    n = len(paths)
    spec = get_backbone(args.backbone)
    size = spec.input_size
    precision = _engine.resolve_precision("auto", args.backbone)
    threads = bench.cores()
    setting = f"{spec.name} ({size} px), batch {args.batch_size}, precision {precision}"
    machine = bench.machine_line(bench.software())

    # Each runtime's bare forward on the same pre-decoded arrays, timed in alternating rounds.
    arrays = [decode(read_source(p), size, "crop") for p in paths[: args.bare]]
    forwards = {}
    with config_context(cpu_runtime="keras"):
        for p in ("float32", "mixed") if precision == "mixed" else ("float32",):
            keras_runner = _engine.get_runner(args.backbone, "imagenet", p)
            label = f"Keras on {keras.backend.backend()}, ``predict_on_batch``, {p}"
            forwards[label] = (lambda b, r=keras_runner: r.model.predict_on_batch(b), args.batch_size)
    f32 = _engine.get_runner(args.backbone, "imagenet", "float32")
    engine_step = None
    if f32.runtime == "litert":
        lite, engine_step = f32.forward_pass, f32.forward_pass.step

        def lite_at(step):
            def forward(b):
                lite.set_step(step)
                return lite(b)

            return forward

        default = " (the default float32)" if precision == "float32" else ""
        forwards[f"LiteRT + XNNPACK, {threads} threads, {engine_step} images per invoke{default}"] = (
            lite_at(engine_step),
            args.batch_size,
        )
        for batch in sorted({16, args.batch_size}):
            forwards[f"LiteRT + XNNPACK, {threads} threads, batch {batch} in one invoke"] = (lite_at(batch), batch)
        ort_forward = onnxruntime_forward(f32.model, size, threads)
        if ort_forward is not None:
            forwards["ONNX Runtime, float32, converted by tf2onnx"] = (ort_forward, args.batch_size)
        ov_forward = openvino_forward(lite.flat, threads)
        if ov_forward is not None:
            forwards["OpenVINO, float32, the same converted model"] = (ov_forward, args.batch_size)
    if cpu_has_bf16() and keras.backend.backend() == "tensorflow":
        flags = "/".join(cpu_bf16_flags())
        forwards[f"Keras on tensorflow, ``mixed_bfloat16`` ({flags})"] = (
            keras_bf16_model(spec).predict_on_batch,
            args.batch_size,
        )
        openvino = bench.runtimes().openvino
        if openvino.available():
            bf16 = bench.runtimes().openvino_forward(f32.model, spec)
            default = " (the default on CPUs with bf16 instructions)" if precision == "bfloat16" else ""
            forwards[f"OpenVINO, bfloat16{default}"] = (bf16, args.batch_size)
    rounds = bench.alternating_rounds(
        {label: (lambda f=f, b=b: bench.images_per_second(f, arrays, b)) for label, (f, b) in forwards.items()},
        args.bare_rounds,
    )
    if engine_step is not None:
        f32.forward_pass.set_step(engine_step)
    bare = {label: bench.median(r) for label, r in rounds.items()}
    baseline = next(iter(bare.values()))
    runner = _engine.get_runner(args.backbone, "imagenet", precision)
    used = bench.images_per_second(runner.forward, arrays, args.batch_size)
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

    with tempfile.TemporaryDirectory() as cache:
        # Cold, one view, so that images/s compares with one bare forward pass per image. The photos
        # go in segments, each a cold call with the bare forward timed right after it: each call's
        # ratio is against the mean of the bare timings on either side of it.
        est1 = KerasEmbeddingTransformer(backbone=args.backbone, batch_size=args.batch_size, cache=cache, views="full")
        around, cold_parts, cold_ratios, cold_s = [used], [], [], 0.0
        step = args.batch_size * max(1, round(n / args.cold_segments / args.batch_size))  # whole batches
        for start in range(0, n, step):
            segment = paths[start : start + step]
            part, seconds = timed(lambda s=segment: est1.transform(s))
            around.append(bench.images_per_second(runner.forward, arrays, args.batch_size))
            cold_parts.append(part)
            cold_s += seconds
            cold_ratios.append(rate(len(segment), seconds) / ((around[-2] + around[-1]) / 2))
        cold = np.concatenate(cold_parts)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        # The default two views: 'full' is cached now, 'crop' is computed here.
        est = KerasEmbeddingTransformer(backbone=args.backbone, batch_size=args.batch_size, cache=cache)
        X = est.transform(paths)
        fill_with_other_rows(cache, args.other_rows, spec.embedding_dim + spec.n_classes)
        n_rows = len(open_store(cache))

        with tempfile.TemporaryDirectory() as tmp:
            listing, out = Path(tmp) / "paths.txt", Path(tmp) / "rows.npy"
            listing.write_text("\n".join(paths))
            payload = {"paths": str(listing), "backbone": args.backbone, "cache": cache, "out": str(out)}
            fresh, fresh_stat = [], []
            for timing in bench.new_process_runs("embed_fresh", payload, args.fresh_runs):
                fresh.append(timing["seconds"])
                fresh_stat.append(timing["stat"] / timing["seconds"])
                assert np.array_equal(np.load(out), X), "a fresh process read other rows"
            fresh_s, fresh_best = bench.median(fresh), min(fresh)
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
        # In rounds, each search on features right before the same search on paths.
        grid = []
        on_features.fit(X, labels)  # untimed: a first fit pays for imports and first-call set-up
        for _ in range(args.grid_rounds):
            _, features_s = timed(lambda: on_features.fit(X, labels))
            _, paths_s = timed(lambda: on_paths.fit(paths, labels))
            grid.append(paths_s / features_s)
            assert abs(on_paths.best_score_ - on_features.best_score_) < 1e-9, (
                on_paths.best_score_,
                on_features.best_score_,
            )

    naive_core = spec.build_model("imagenet")
    naive_core.predict(np.zeros((1, size, size, 3), np.float32), verbose=0)
    naive_paths = paths[: args.bare]
    naive, naive_s = timed(lambda: naive_loop(naive_core, naive_paths, spec, args.batch_size))
    naive_rate = rate(len(naive_paths), naive_s)

    bench.write_result(
        "embed_runtimes",
        ["runtime", "images/s", "vs the first row", "rounds"],
        [
            [name, f"{r:,.1f}", f"{r / baseline:.2f}", " ".join(f"{x:.0f}" for x in rounds[name])]
            for name, r in bare.items()
        ],
        title="Embedding speed: CPU runtimes",
        what=(
            f"The bare forward pass of {setting}, on the same {len(arrays)} pre-decoded photos, in one process: "
            f"each runtime timed in {args.bare_rounds} alternating rounds, the median shown. Ratios are what to "
            "compare: absolute figures move by several times between machines."
        ),
        machine=machine,
        out=args.out,
    )
    cold_rate = rate(n, cold_s)
    engine = [
        ["the engine's bare forward pass (images/s)", "", f"{used:,.1f}", runner.runtime],
        [
            "decoding alone, both default views (views/s)",
            "",
            f"{decode_rate:,.1f}",
            f"{threads} threads; {decode_rate / used:.2f}x the forward pass",
        ],
        [
            "cold ``transform``, one view, vs the bare forward",
            0.9,
            f"{bench.median(cold_ratios):.2f}",
            f"median of {len(cold_ratios)} calls ({', '.join(f'{r:.2f}' for r in cold_ratios)}); all calls together "
            f"{cold_rate / np.mean(around):.2f}",
        ],
        ["cold ``transform``, one view: images/s", "", f"{cold_rate:,.1f}", ""],
        ["naive loop (PIL + ``model.predict`` per batch), vs the bare forward", "", f"{naive_rate / used:.2f}", ""],
        [
            f"warm ``transform``, two views, new process, {n_rows:,}-row cache: photos/s (median of {len(fresh)})",
            "30,000",
            f"{rate(n, fresh_s):,.0f}",
            f"best {rate(n, fresh_best):,.0f}; a stat of every photo: {bench.median(fresh_stat):.0%} of the call",
        ],
        [
            "warm ``transform``, two views, repeated in one process: photos/s",
            "100,000",
            f"{rate(n, repeated_s):,.0f}",
            f"a stat of every photo: {stat_s / repeated_s:.0%} of the call",
        ],
        [
            f"``GridSearchCV`` ({len(GRID['logisticregression__C'])} values of C x 5 folds) on image paths vs on "
            "precomputed features (time ratio)",
            1.25,
            f"{bench.median(grid):.2f}",
            "rounds: " + ", ".join(f"{g:.2f}" for g in grid),
        ],
        ["peak memory after the cold calls (MB)", "", f"{peak_mb:,.0f}", ""],
    ]
    bench.write_result(
        "embed_engine",
        ["measure", "goal", "measured", "detail"],
        engine,
        title="Embedding speed: the engine, cold and warm",
        what=(
            f"KerasEmbeddingTransformer on {n} photos, {setting}, against each measure's goal. Cold is an empty "
            f"cache; warm reads a cache of {n_rows:,} rows, most of them of other photos."
        ),
        machine=machine,
        out=args.out,
    )
    corr = np.corrcoef(naive.ravel(), cold[: len(naive_paths)].ravel())[0, 1]
    print(f"naive vs skcatdog embeddings correlation {corr:.4f} (the naive loop resizes without antialiasing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
