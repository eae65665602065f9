#!/usr/bin/env bash
# The GPU checks, as one prepared run on a lent GPU machine (the `device` tool):
#
#   bash tools/gpu_check.sh prepare PHOTO_FOLDER   # here: wheels and up to 24 MB of photos into .gpu/
#   device run: bash tools/gpu_check.sh run        # there, carry [".gpu"], timeout_s 540
#
# `run` installs what the GPU image lacks (Keras, nvImageCodec, the pure-Python
# dependencies), runs tests/test_gpu.py (the GPU decoder's bad-input, memory
# and row tests) and benchmarks/bench_gpu.py on the photos, and leaves the logs
# and the table in $OUT. The GPU image has torch and JAX but no TensorFlow.
set -u
case "${1:-}" in
prepare)
    folder=${2:?usage: gpu_check.sh prepare PHOTO_FOLDER}
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
    rm -rf .gpu && mkdir -p .gpu/whl .gpu/photos
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .gpu/whl keras namex optree diskcache imbalanced-learn skops \
        sklearn-compat array-api-compat nvidia-nvimgcodec-cu13 nvidia-nvjpeg || exit
    # Photos up to 24 MB in all, spread over the folder's sorted list.
    python3 - "$folder" <<'PY'
import shutil, sys
from pathlib import Path
photos = sorted(p for p in Path(sys.argv[1]).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg"))
total = 0
for k, p in enumerate(photos[:: max(1, len(photos) // 1200)]):
    total += p.stat().st_size
    if total > 24e6:
        break
    shutil.copy(p, Path(".gpu/photos") / f"{k:05d}-{p.name}")
print(k, "photos,", round(total / 1e6, 1), "MB")
PY
    du -sh .gpu
    ;;
run)
    out=${OUT:-/tmp/gpu-check}
    mkdir -p "$out"
    python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site \
        .gpu/whl/*.whl || exit
    export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1
    nvidia-smi --query-gpu=name,memory.used --format=csv | tee "$out/gpu.txt"
    for backend in torch jax; do
        KERAS_BACKEND=$backend timeout 150 python3 -m pytest -q -p no:cacheprovider -o addopts= \
            tests/test_gpu.py 2>&1 | tail -40 >"$out/test_gpu_$backend.log"
        tail -3 "$out/test_gpu_$backend.log"
    done
    timeout 330 python3 benchmarks/bench_gpu.py .gpu/photos --limit 1000 --decode-limit 600 \
        --backends jax,torch --timeout 150 2>&1 | tee "$out/bench_gpu.log"
    cp benchmarks/results/bench_gpu.json "$out/" 2>/dev/null
    ;;
*)
    echo "usage: gpu_check.sh prepare PHOTO_FOLDER | run" >&2
    exit 2
    ;;
esac
