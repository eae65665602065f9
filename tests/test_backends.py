"""The engine runs unchanged on Keras's JAX and torch backends (skipped where not installed)."""

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = """
import json, sys
sys.path.insert(0, {root!r})
import keras
import tests._helpers  # the tiny backbone
from skcatdog._engine import embed
import numpy as np
image = np.random.default_rng(0).integers(0, 256, (50, 70, 3), dtype=np.uint8)
tiny = embed([image], "tiny_test", weights=None, cache=None, precision="float32")
caffe = embed([image], "resnet50", weights=None, cache=None, precision="float32")
print(json.dumps({{"backend": keras.backend.backend(), "tiny": tiny.embeddings.tolist(),
                  "resnet50": caffe.embeddings[:, :16].tolist()}}))
"""


def _run(backend):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT.format(root=str(ROOT))], env=env, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def tensorflow_rows():
    return _run("tensorflow")


def _backend(name):
    missing = importlib.util.find_spec(name) is None
    reason = f"{name} is not installed, so KERAS_BACKEND={name} cannot be checked here"
    return pytest.param(name, marks=pytest.mark.skipif(missing, reason=reason))


@pytest.mark.slow
@pytest.mark.parametrize("backend", [_backend("jax"), _backend("torch")])
def test_same_rows_on_every_backend(backend, tensorflow_rows):
    rows = _run(backend)
    assert rows["backend"] == backend
    # Deterministic random weights and in-model preprocessing: the same numbers everywhere.
    np.testing.assert_allclose(rows["tiny"], tensorflow_rows["tiny"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(rows["resnet50"], tensorflow_rows["resnet50"], rtol=1e-3, atol=1e-3)


GPU_SHAPED = """
import json, sys
sys.path.insert(0, {root!r})
import keras
import numpy as np
import tests._helpers  # the tiny backbone
from skcatdog import config_context
from skcatdog._engine import call, compute, embed, stats
images = [np.random.default_rng(k).integers(0, 256, (40 + k, 60, 3), dtype=np.uint8) for k in range(23)]
kwargs = dict(weights=None, precision="float32", batch_size=4, n_jobs=2)
plain = embed(images, "tiny_test", cache=None, **kwargs)
# What a forward pass on a GPU turns on, with the model left on the CPU: one batch shape, the decoder a
# thread ahead copying each batch to the device as the backend's array, rows placed and stored behind.
call.gpu_available = compute.gpu_available = lambda: True
stats.reset()
shaped = embed(images, "tiny_test", cache={cache!r}, **kwargs)
forwarded = stats.images_forwarded
again = embed(images, "tiny_test", cache={cache!r}, **kwargs)
forwarded_again = stats.images_forwarded - forwarded
with config_context(decoder="processes"):  # batches in a ring of shared memory that workers refill
    ring = embed(images, "tiny_test", cache=None, **kwargs)
print(json.dumps({{"backend": keras.backend.backend(), "plain": plain.embeddings.tolist(),
                  "shaped": shaped.embeddings.tolist(), "again": again.embeddings.tolist(),
                  "ring": ring.embeddings.tolist(),
                  "forwarded": forwarded, "forwarded_again": forwarded_again}}))
"""


@pytest.mark.parametrize("backend", ["tensorflow", _backend("jax"), _backend("torch")])
def test_the_gpu_shaped_pipeline_gives_the_same_rows_on_every_backend(backend, tmp_path):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    script = GPU_SHAPED.format(root=str(ROOT), cache=str(tmp_path / "cache"))
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = json.loads(proc.stdout.strip().splitlines()[-1])
    assert rows["backend"] == backend
    assert rows["forwarded"] == 23 and rows["forwarded_again"] == 0  # every row stored, the last batch's too
    np.testing.assert_allclose(rows["shaped"], rows["plain"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(rows["ring"], rows["plain"], rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(rows["again"], rows["shaped"])
