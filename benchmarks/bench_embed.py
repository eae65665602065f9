"""Throughput of KerasEmbeddingTransformer on the shared Dogs vs Cats photos.

Prints one Markdown table (paste it into the README):

* cold ``transform`` (empty cache): read, digest, decode, resize, forward, cache write;
* the bare compiled forward pass on pre-decoded uint8 arrays (the ceiling);
* a naive loop in the style of the reference solution (PIL load + resize,
  NumPy preprocessing, ``model.predict`` per batch);
* warm ``transform`` (every row a cache hit);
* peak resident memory after the cold run.

Everything runs in one process, on one model, after one warm-up batch, so
the ratios compare like with like.

    python benchmarks/bench_embed.py [--backbone efficientnet_lite2] [--limit N]
"""

import argparse
import os
import platform
import resource
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
from PIL import Image  # noqa: E402

from skcatdog import KerasEmbeddingTransformer, load_image_folder  # noqa: E402
from skcatdog import _engine  # noqa: E402
from skcatdog._images import decode, read_source  # noqa: E402
from skcatdog.backbones import PREPROCESSING, get_backbone  # noqa: E402
from skcatdog.backbones.efficientnet_lite import (  # noqa: E402
    build_efficientnet_lite,
    default_checkpoint,
    load_torch_weights,
)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "dogs-vs-cats" / "train"


def rate(n, seconds):
    return n / seconds if seconds else float("inf")


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


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="efficientnet_lite2")
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--limit", type=int, default=None, help="use only the first N photos")
    parser.add_argument("--data", default=str(DATA))
    args = parser.parse_args()

    paths, _ = load_image_folder(args.data)
    paths = list(paths[: args.limit])
    n = len(paths)
    spec = get_backbone(args.backbone)
    size = spec.input_size
    runner = _engine.get_runner(args.backbone, "imagenet", _engine.resolve_precision("auto"))
    warm = np.zeros((args.batch_size, size, size, 3), np.uint8)
    runner.forward(warm)  # trace and compile once, outside every timing

    results = []
    with tempfile.TemporaryDirectory() as cache:
        # One view (the default embeds two), so that images/s compares with one bare forward pass per image.
        est = KerasEmbeddingTransformer(backbone=args.backbone, batch_size=args.batch_size, cache=cache, views="full")
        t = time.perf_counter()
        cold = est.transform(paths)
        cold_s = time.perf_counter() - t
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        t = time.perf_counter()
        warm_rows = est.transform(paths)
        warm_s = time.perf_counter() - t
        assert np.array_equal(cold, warm_rows)

    arrays = [decode(read_source(p), size) for p in paths]
    t = time.perf_counter()
    for start in range(0, n, args.batch_size):
        chunk = arrays[start : start + args.batch_size]
        batch = warm.copy()
        batch[: len(chunk)] = chunk
        runner.forward(batch, len(chunk))
    bare_s = time.perf_counter() - t

    naive_models = {"same network": spec.build_model("imagenet")}
    if args.backbone.startswith("efficientnet_lite"):
        # The network as published and as a user would build it: BatchNorm not folded.
        plain = build_efficientnet_lite(args.backbone, (size, size, 3), fold_batchnorm=False)
        load_torch_weights(plain, default_checkpoint(args.backbone))
        naive_models = {"plain network, BatchNorm unfolded": plain, **naive_models}
    naive_rates = {}
    for label, core in naive_models.items():
        core.predict(np.zeros((1, size, size, 3), np.float32), verbose=0)
        t = time.perf_counter()
        naive = naive_loop(core, paths, spec, args.batch_size)
        naive_rates[label] = rate(n, time.perf_counter() - t)
    agreement = np.corrcoef(naive.ravel(), cold.ravel())[0, 1]

    bare = rate(n, bare_s)
    results = [
        ("bare compiled forward on pre-decoded arrays (ceiling)", bare, 1.0),
        ("cold `transform` (empty cache)", rate(n, cold_s), rate(n, cold_s) / bare),
        ("warm `transform` (all cache hits)", rate(n, warm_s), rate(n, warm_s) / bare),
    ] + [
        (f"naive loop, {label}: PIL + `model.predict` per batch", r, r / bare) for label, r in naive_rates.items()
    ]
    print(
        f"\n{n} photos, backbone {args.backbone} ({size} px), batch {args.batch_size}, "
        f"{os.cpu_count()} CPU cores, {platform.python_version()}, "
        f"keras backend {__import__('keras').backend.backend()}, precision {_engine.resolve_precision('auto')}\n"
    )
    print("| run | images/s | vs bare forward |")
    print("|---|---:|---:|")
    for name, r, ratio in results:
        print(f"| {name} | {r:,.1f} | {ratio:.2f} |")
    print(f"| peak RSS after the cold run | {peak_mb:,.0f} MB | |")
    speedups = ", ".join(f"{rate(n, cold_s) / r:.2f}x vs the {label}" for label, r in naive_rates.items())
    print(f"\ncold `transform` speed-up over the naive loop: {speedups}; naive vs skcatdog embeddings "
          f"correlation {agreement:.4f} (the naive loop resizes without antialiasing)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
