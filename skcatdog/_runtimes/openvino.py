"""bfloat16 on a CPU through OpenVINO (``pip install "skcatdog[cpu-bf16]"``).

The engine's float32 Keras model (preprocessing, folded backbone, both
outputs) is converted once with ``openvino.convert_model`` and compiled for
the CPU with ``INFERENCE_PRECISION_HINT=bf16``: OpenVINO then runs the
convolutions in bfloat16 on AMX tiles or AVX-512 BF16 units and keeps the
outputs in float32. bfloat16 keeps 8 bits of mantissa, so its rows differ
from float32's by far more than 1e-4; they have their own cache rows, keyed by
OpenVINO's version too, and the converted model is checked against the Keras
model before use.

The converted model (OpenVINO IR, float32 weights) is kept in the folder the
caller names, keyed by the rows' fingerprint and OpenVINO's version, so only
the first process pays for the conversion; compiling it costs a fraction of a
second per process.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.metadata
import importlib.util
import os
import shutil
import tempfile
import threading
from pathlib import Path

import numpy as np

from . import keras as keras_runtime
from .common import check_against_keras, threads

__all__ = ["ID", "MIN_COSINE", "PRECISIONS", "Forward", "available", "dtype_policy", "model_dir", "rows_id"]

ID = "openvino"
PRECISIONS = frozenset({"bfloat16"})

# Part of the converted model's folder name: bump when the conversion changes.
OPENVINO_FORMAT = 1

#: Smallest cosine similarity accepted between a bf16 output row and the
#: Keras model's float32 row on the probe batch. bfloat16 rounding leaves
#: it above 0.99 on real photos and random pixels alike; a conversion that
#: lost or scrambled weights gives rows unrelated to the Keras model's.
MIN_COSINE = 0.98

#: The fewest images per inference request (see :class:`Forward`).
STEP = 8

# OpenVINO's inference precision for each precision Forward takes ("float32" is for comparisons).
_HINTS = {"bfloat16": "bf16", "float32": "f32"}


@functools.lru_cache(maxsize=1)
def _installed():
    return importlib.util.find_spec("openvino") is not None  # found without importing it


def available():
    """Whether OpenVINO can run here: it is installed, and Keras runs on
    TensorFlow (which traces the Keras model for the converter)."""
    return _installed() and keras_runtime.backend() == "tensorflow"


@functools.lru_cache(maxsize=1)
def _version_id():
    return f"openvino-{importlib.metadata.version('openvino')}"


def rows_id(precision):
    """``"openvino-<version>"``: OpenVINO's kernels change bf16 rows between versions."""
    return _version_id()


def dtype_policy(precision):
    """``"float32"``: the float32 model is converted, and OpenVINO computes in bfloat16."""
    return "float32"


def model_dir(directory, name):
    """The folder of the converted model named ``name`` in ``directory`` (keyed by OpenVINO's version too)."""
    return Path(directory) / f"{name}-{_version_id()}-v{OPENVINO_FORMAT}"


@functools.lru_cache(maxsize=1)
def _core():
    """The process's OpenVINO core: its CPU plugin loads once (seconds), not once per model."""
    import openvino as ov

    return ov.Core()


def _convert(model, size):
    """The Keras model as an OpenVINO model with a dynamic batch dimension, traced by TensorFlow."""
    import openvino as ov
    import tensorflow as tf

    spec = tf.TensorSpec([None, size, size, 3], tf.uint8, name="pixels")
    function = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    return ov.convert_model(function)


def _save(ov_model, path):
    """Keep a converted model for later processes: both IR files appear together or not at all."""
    import openvino as ov

    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            # float32 weights: the default would store them in float16, another rounding.
            ov.save_model(ov_model, os.path.join(tmp, "model.xml"), compress_to_fp16=False)
            os.rename(tmp, path)  # fails if another process got there first: its copy is as good
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


class Forward:
    """``(b, size, size, 3)`` uint8 -> ``[embedding, logits]`` in bfloat16 through OpenVINO.

    Built only after the compiled model has given rows within bfloat16's
    rounding (:data:`MIN_COSINE`) of the Keras model's float32 outputs on a
    probe batch.

    Parameters
    ----------
    model : keras.Model
        The engine's float32 model: uint8 pixels in, ``[embedding, logits]`` out.
    backbone : Backbone
    precision : {"bfloat16", "float32"}, default="bfloat16"
        What OpenVINO computes in (``"float32"`` is for comparisons).
    name : str, default=None
        Names the converted model on disk (the rows' fingerprint).
    directory : path-like, default=None
        Where converted models are kept; ``None`` converts afresh.

    Raises
    ------
    ConversionMismatch
        The conversion does not give the Keras model's rows.
    """

    def __init__(self, model, backbone, *, precision="bfloat16", name=None, directory=None):
        self.core = _core()
        self.hint = _HINTS[precision]
        self.size = backbone.input_size
        path = None if directory is None or name is None else model_dir(directory, name)
        if path is not None and path.is_dir():
            try:
                self._start(self.core.read_model(str(path / "model.xml")), backbone)
                check_against_keras(self, model, backbone, runtime="OpenVINO", min_cosine=MIN_COSINE)
                return
            except Exception:  # noqa: BLE001 - a damaged or foreign model: convert afresh below
                shutil.rmtree(path, ignore_errors=True)
        ov_model = _convert(model, self.size)
        self._start(ov_model, backbone)
        check_against_keras(self, model, backbone, runtime="OpenVINO", min_cosine=MIN_COSINE)
        if path is not None:
            _save(ov_model, path)

    def _start(self, ov_model, backbone):
        n_threads = threads()
        config = {
            "INFERENCE_PRECISION_HINT": self.hint,
            "INFERENCE_NUM_THREADS": n_threads,
            "NUM_STREAMS": 1,  # one request at a time, on all the threads
            # Threads pinned to cores wait for them whenever other processes run there.
            "ENABLE_CPU_PINNING": False,
        }
        self.compiled = self.core.compile_model(ov_model, "CPU", config)
        # What OpenVINO settled on: "f32" where the CPU has no bf16 instructions.
        self.inference_precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        # Outputs are told apart by width; equal widths keep the converter's order (embedding first).
        self.outputs = sorted(
            self.compiled.outputs,
            key=lambda o: (int(o.get_partial_shape()[-1].get_length()) != backbone.embedding_dim, o.get_any_name()),
        )
        self.request = self.compiled.create_infer_request()
        self.lock = threading.Lock()
        # A few images per request run faster than whole batches (as with LiteRT, presumably each
        # layer's activations then stay in the caches); one per thread keeps every thread busy.
        self.step = max(STEP, n_threads)

    def __call__(self, batch, n_real=None):
        """``[embedding, logits]`` of the first ``n_real`` images of ``batch`` (all by default).

        The model's batch dimension is dynamic, so a batch's padding past its
        real images is never computed.
        """
        n_real = len(batch) if n_real is None else n_real
        batch = np.ascontiguousarray(batch[:n_real], dtype=np.uint8)
        parts = []
        with self.lock:
            for start in range(0, n_real, self.step):
                results = self.request.infer({0: batch[start : start + self.step]})
                parts.append([np.array(results[o], np.float32) for o in self.outputs])
        return [np.concatenate(column) for column in zip(*parts, strict=True)]
