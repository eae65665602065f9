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
import tests.conftest  # the tiny backbone
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
