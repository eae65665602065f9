"""bfloat16 against float32 on a CPU: speed of each runtime, and the quality of its rows.

In one process, on the same pre-decoded photos (the ``crop`` view), the bare
forward pass (images/s, fixed batches) of:

* LiteRT + XNNPACK, float32: the engine's CPU runtime (the reference rows);
* Keras on TensorFlow, float32 and ``mixed_bfloat16``;
* OpenVINO on the Keras model converted by the package's OpenVINO runtime, with
  ``INFERENCE_PRECISION_HINT`` f32 and bf16 (where OpenVINO is installed).

The runtimes are timed in alternating rounds (a shared machine's speed
drifts within minutes) and the median round is reported, with each runtime's
embeddings' cosine similarity to LiteRT's rows.

``--quality`` then embeds every photo in the default views (``crop`` and
``full``, averaged, as ``KerasEmbeddingTransformer`` does) with LiteRT
float32 and with each bf16 runtime, timing every runtime over all those
views too, and scores each feature matrix by 5-fold CV log-loss with the
classifier of ``make_default_pipeline`` (a LogisticRegression whose C is
tuned by an inner grid search), outer folds ``StratifiedKFold(5,
shuffle=True, random_state=0)``, as ``bench_quality.py`` does.  ``precision="auto"``
may use bf16 only if its log-loss is within 0.001 of float32's.

``--cold N`` times cold ``transform`` (empty cache) of N photos with
``precision="float32"`` and ``"bfloat16"`` in alternating rounds, once the
engine has that precision.

Writes ``bf16.csv`` (one row per runtime; the cold and log-loss columns
filled when measured) and prints it.

    python benchmarks/bench_bf16.py [--data FOLDER] [--quality] [--cold 256] [--backbone efficientnet_lite2]
"""

from __future__ import annotations

import os
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import _common as bench
import numpy as np

from skcatdog import _engine
from skcatdog._cpu import BF16_FLAGS, cpu_bf16_flags
from skcatdog._images import decode_views, read_source
from skcatdog.backbones import PREPROCESSING, get_backbone
from skcatdog.recipe import DEFAULT_VIEWS

REFERENCE = "LiteRT + XNNPACK, float32 (the engine's)"


def keras_bf16_model(spec):
    """The engine's model built under Keras's ``mixed_bfloat16`` policy (outputs cast to float32)."""
    import keras

    size = spec.input_size
    mode = spec.preprocessing

    class Preprocess(keras.layers.Layer):
        def call(self, x):
            return keras.ops.cast(PREPROCESSING[mode](keras.ops.cast(x, "float32"), keras.ops), self.compute_dtype)

    previous = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_bfloat16")
        core = spec.build_model("imagenet")
        inputs = keras.Input((size, size, 3), dtype="uint8")
        embedding, logits = core(Preprocess()(inputs))
        outputs = [keras.layers.Activation("linear", dtype="float32")(x) for x in (embedding, logits)]
    finally:
        keras.config.set_dtype_policy(previous)
    return keras.Model(inputs, outputs)


def fixed_batches(forward, batch_size, size):
    """``forward`` on batches padded to ``batch_size`` (one shape: no retracing), cut to the real rows."""
    buf = np.zeros((batch_size, size, size, 3), np.uint8)

    def run(arrays):
        parts = []
        for start in range(0, len(arrays), batch_size):
            chunk = arrays[start : start + batch_size]
            buf[: len(chunk)] = chunk
            parts.append([np.asarray(x[: len(chunk)], np.float32) for x in forward(buf, len(chunk))])
        return [np.concatenate(column) for column in zip(*parts, strict=True)]

    return run


def cosines(a, b):
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    return np.einsum("ij,ij->i", a, b)


def runtimes(spec, batch_size, with_float32_extras=True):
    """Name -> ``fn(arrays) -> [embedding, logits]``, the reference first; and the OpenVINO version."""
    runner = _engine.get_runner(spec.name, "imagenet", "float32")
    assert runner.runtime == "litert", "the reference runtime is LiteRT (TensorFlow backend, no GPU)"
    size = spec.input_size
    out = {REFERENCE: fixed_batches(runner.forward_pass, batch_size, size)}
    if with_float32_extras:
        out["Keras on TensorFlow, float32"] = fixed_batches(
            lambda b, n: runner.model.predict_on_batch(b), batch_size, size
        )
    bf16_keras = keras_bf16_model(spec)
    out["Keras on TensorFlow, `mixed_bfloat16`"] = fixed_batches(
        lambda b, n: bf16_keras.predict_on_batch(b), batch_size, size
    )
    version = None
    openvino_runtime = bench.runtimes().openvino
    if openvino_runtime.available():
        import openvino

        version = openvino.__version__.split("-")[0]
        if with_float32_extras:
            f32 = bench.runtimes().openvino_forward(runner.model, spec, precision="float32")
            out["OpenVINO, f32"] = fixed_batches(f32, batch_size, size)
        bf16 = bench.runtimes().openvino_forward(runner.model, spec)
        out["OpenVINO, bf16"] = fixed_batches(bf16, batch_size, size)
    return out, version


def bare(spec, paths, args):
    """Median images/s of each runtime over alternating rounds, and cosines to the reference's rows."""
    size = spec.input_size
    with ThreadPoolExecutor(bench.cores()) as pool:
        arrays = np.stack(list(pool.map(lambda p: decode_views(read_source(p), size, ("crop",))["crop"], paths)))
    forwards, version = runtimes(spec, args.batch_size)
    rows = {name: fn(arrays[: args.batch_size]) for name, fn in forwards.items()}  # untimed first calls

    def timed(name, fn):
        def measure():
            t = time.perf_counter()
            rows[name] = fn(arrays)  # kept: the embeddings' cosines to the reference's
            return len(arrays) / (time.perf_counter() - t)

        return measure

    rounds = bench.alternating_rounds({name: timed(name, fn) for name, fn in forwards.items()}, args.rounds)
    reference = rows[REFERENCE]
    table = {}
    for name in forwards:
        embedding, logits = rows[name]
        c = cosines(embedding, reference[0])
        table[name] = {
            "images_per_s": float(np.median(rounds[name])),
            "rounds": [round(r, 1) for r in rounds[name]],
            "cosine_min": float(c.min()),
            "cosine_mean": float(c.mean()),
            "top1_agreement": float(np.mean(logits.argmax(1) == reference[1].argmax(1))),
        }
    return table, version


def quality(spec, paths, labels, args):
    """Mean-of-views embeddings of every photo per runtime, their views/s, and their 5-fold CV log-loss."""
    size, views = spec.input_size, DEFAULT_VIEWS
    forwards, _ = runtimes(spec, args.batch_size, with_float32_extras=False)
    sums = {name: np.zeros((len(paths), spec.embedding_dim), np.float32) for name in forwards}
    seconds = dict.fromkeys(forwards, 0.0)
    chunk = 8 * args.batch_size
    with ThreadPoolExecutor(bench.cores()) as pool:
        for start in range(0, len(paths), chunk):
            decoded = list(pool.map(lambda p: decode_views(read_source(p), size, views), paths[start : start + chunk]))
            for view in views:  # summed in view order, in float32, as the engine's mean_views does
                arrays = np.stack([d[view] for d in decoded])
                for name, fn in forwards.items():
                    t = time.perf_counter()
                    embedding = fn(arrays)[0]
                    seconds[name] += time.perf_counter() - t
                    sums[name][start : start + len(arrays)] += embedding
            print(f"  {start + len(decoded)} / {len(paths)} photos", file=sys.stderr, flush=True)
    out = {}
    for name in forwards:
        X = sums[name] / len(views)
        if args.store:
            np.save(Path(args.store) / f"{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}.npy", X)
        losses = bench.cv_log_loss(X, labels)
        c = cosines(X, sums[REFERENCE] / len(views))
        out[name] = {
            "log_loss": float(np.mean(losses)),
            "fold_log_loss": [round(x, 5) for x in losses],
            "views_per_s": len(views) * len(paths) / seconds[name],
            "cosine_min": float(c.min()),
            "cosine_mean": float(c.mean()),
        }
    return out


def cold(paths, args):
    """Photos/s of cold ``transform`` (empty cache) per precision and view set, in alternating rounds."""
    import tempfile

    from skcatdog import KerasEmbeddingTransformer, config_context

    def run(views, precision, items):
        with tempfile.TemporaryDirectory() as cache:
            est = KerasEmbeddingTransformer(backbone=args.backbone, views=views, precision=precision, cache=cache)
            t = time.perf_counter()
            est.set_params(batch_size=args.batch_size).transform(items)
            return len(items) / (time.perf_counter() - t)

    out = {}
    precisions = ("float32", "bfloat16")
    with config_context(memory_cache_bytes=0):  # nothing answered from memory: every round computes
        for p in precisions:  # untimed: builds each runner
            run(("full",), p, paths[: args.batch_size])
        for views in (("full",), DEFAULT_VIEWS):
            rates = {p: [] for p in precisions}
            for _ in range(args.cold_rounds):
                for p in precisions:
                    rates[p].append(run(views, p, paths))
            name = " + ".join(views)
            out[name] = {
                p: {"photos_per_s": float(np.median(r)), "rounds": [round(x, 1) for x in r]} for p, r in rates.items()
            }
            out[name]["ratio"] = out[name]["bfloat16"]["photos_per_s"] / out[name]["float32"]["photos_per_s"]
    return out


def detection_cost(runs=5):
    """Seconds to import skcatdog._cpu (after skcatdog) and to read the flags, in new processes (medians)."""
    timings = bench.new_process_runs("bf16_detect", {}, runs, pythonpath=[bench.ROOT])
    return [bench.median([t[k] for t in timings]) for k in ("import", "first_call")]


def main():
    parser = bench.parser(__doc__)
    parser.add_argument("--backbone", default="efficientnet_lite2")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--bare", type=int, default=256, help="photos in each bare-forward round")
    parser.add_argument("--rounds", type=int, default=5, help="alternating rounds of the bare forward")
    parser.add_argument("--quality", action="store_true", help="also embed every photo and compare CV log-loss")
    parser.add_argument("--limit", type=int, default=None, help="use only N photos for --quality")
    parser.add_argument("--store", default=None, help="a folder to save each runtime's feature matrix in")
    parser.add_argument("--cold", type=int, default=0, help="photos in each cold transform (0: none)")
    parser.add_argument("--cold-rounds", type=int, default=3, help="alternating cold rounds per view set")
    args = parser.parse_args()

    import keras
    import tensorflow as tf

    spec = get_backbone(args.backbone)
    paths, labels = bench.load_photos(bench.data_folder(args.data), args.limit)
    pick = np.linspace(0, len(paths) - 1, min(args.bare, len(paths))).round().astype(int)
    import_s, detect_s = detection_cost()
    flags = cpu_bf16_flags()

    table, version = bare(spec, [paths[i] for i in pick], args)
    machine = bench.machine_line(
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}, OpenVINO {version or 'not installed'}"
    )
    print(f"bf16 flags: {', '.join(flags) or 'none'} (of {', '.join(BF16_FLAGS)})")
    print(f"bf16 detection in a new process: import {1e3 * import_s:.2f} ms, first call {1e3 * detect_s:.2f} ms")
    q = {}
    if args.quality:
        if args.store:
            Path(args.store).mkdir(parents=True, exist_ok=True)
        q = quality(spec, paths, labels, args)
    c, runtime = {}, None
    if args.cold:
        if "bfloat16" not in _engine.PRECISIONS:
            print("the engine has no precision='bfloat16': no cold transform measured")
        else:
            runtime = _engine.get_runner(args.backbone, "imagenet", "bfloat16").runtime
            c = cold([paths[i] for i in np.linspace(0, len(paths) - 1, args.cold).round().astype(int)], args)

    reference = table[REFERENCE]["images_per_s"]
    base = q.get(REFERENCE, {}).get("log_loss")
    rows = []
    for name, r in table.items():
        cold_cell = ""
        if c and name == REFERENCE:
            cold_cell = " / ".join(f"{v['float32']['photos_per_s']:,.1f}" for v in c.values())
        elif c and name.startswith("OpenVINO, bf16" if runtime == "openvino" else "Keras on TensorFlow, `mixed"):
            cold_cell = " / ".join(f"{v['bfloat16']['photos_per_s']:,.1f}" for v in c.values())
            cold_cell += " (" + " / ".join(f"{v['ratio']:.2f}x" for v in c.values()) + ")"
        quality_row = q.get(name, {})
        loss = quality_row.get("log_loss")
        rows.append(
            [
                name,
                f"{r['images_per_s']:,.1f}",
                f"{r['images_per_s'] / reference:.2f}",
                " ".join(f"{x:.0f}" for x in r["rounds"]),
                cold_cell,
                f"{r['cosine_min']:.4f}" + (f" / {quality_row['cosine_min']:.4f}" if quality_row else ""),
                f"{r['top1_agreement']:.3f}",
                f"{loss:.5f}" if loss is not None else "",
                f"{loss - base:+.5f}" if loss is not None and name != REFERENCE else "",
            ]
        )
    views = " / ".join(c) if c else "full / crop + full"
    bench.write_result(
        "bf16",
        [
            "runtime",
            "bare forward images/s",
            "vs LiteRT float32",
            "rounds",
            f"cold transform photos/s ({views})",
            "embedding cosine (lowest)",
            "top-1 agreement",
            "log-loss",
            "vs float32",
        ],
        rows,
        title="bfloat16 on a CPU: speed and quality",
        what=(
            f"{spec.name} ({spec.input_size} px), one process. Bare forward: batch {args.batch_size}, {len(pick)} "
            f"pre-decoded photos per round, median of {args.rounds} alternating rounds. "
            + (
                f"Cold transform: {args.cold} photos, empty cache, median of {args.cold_rounds} alternating rounds. "
                if c
                else ""
            )
            + (
                f"Log-loss: make_default_pipeline's classifier, 5-fold CV on {len(paths):,} photos, views "
                f"{' + '.join(DEFAULT_VIEWS)} averaged. "
                if q
                else ""
            )
            + "Cosine: each photo's embedding against LiteRT float32's (the lowest; then for the averaged views)."
        ),
        machine=machine,
        out=args.out,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
