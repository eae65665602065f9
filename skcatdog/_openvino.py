"""The bfloat16 CPU forward pass through OpenVINO (``pip install "skcatdog[cpu-bf16]"``).

The engine's float32 Keras model (preprocessing, folded backbone, both
outputs) is converted once with ``openvino.convert_model`` and compiled for
the CPU with ``INFERENCE_PRECISION_HINT=bf16``: OpenVINO then runs the
convolutions in bfloat16 on AMX tiles or AVX-512 BF16 units and keeps the
outputs in float32.  bfloat16 keeps 8 bits of mantissa, so its rows differ
from float32's by far more than 1e-4; they have their own cache rows (the
``"bfloat16"`` precision, keyed by OpenVINO's version too), and the
converted model is checked against the Keras model before use.

The converted model (OpenVINO IR, float32 weights) is kept on disk beside
the default cache, keyed by the model fingerprint and OpenVINO's version,
so only the first process pays for the conversion; compiling it costs a
fraction of a second per process.
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

import numpy as np

__all__ = ["BF16Forward", "ConversionMismatch", "available", "model_dir", "runtime_id"]

# Part of the converted model's folder name: bump when the conversion changes.
OPENVINO_FORMAT = 1

#: Smallest cosine similarity accepted between a bf16 output row and the
#: Keras model's float32 row on the probe batch.  bfloat16 rounding leaves
#: it above 0.99 on real photos and random pixels alike; a conversion that
#: lost or scrambled weights gives rows unrelated to the Keras model's.
MIN_COSINE = 0.98

#: The fewest images per inference request (see :class:`BF16Forward`).
STEP = 8


def available():
    """Whether OpenVINO is installed (found without importing it)."""
    return importlib.util.find_spec("openvino") is not None


@functools.lru_cache(maxsize=1)
def runtime_id():
    """``"openvino-<version>"``: part of the bf16 rows' fingerprint, as kernels change rows between versions."""
    return f"openvino-{importlib.metadata.version('openvino')}"


def _threads():
    """TensorFlow's intra-op setting if one was made (a Dask worker that shares
    the cores sets it), else every core this process may use."""
    import tensorflow as tf

    intra = tf.config.threading.get_intra_op_parallelism_threads()
    if intra > 0:
        return intra
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def model_dir(fingerprint):
    """Where the converted model for ``fingerprint`` is kept (keyed by OpenVINO's version too)."""
    from ._store import default_cache_dir

    return default_cache_dir() / "openvino" / f"{fingerprint}-{runtime_id()}-v{OPENVINO_FORMAT}"


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


class ConversionMismatch(RuntimeError):
    """The converted model does not give the Keras model's rows."""


class BF16Forward:
    """``(b, size, size, 3)`` uint8 -> ``(embedding, logits)`` in bfloat16 through OpenVINO.

    Built only after the compiled model has given rows within bfloat16's
    rounding of the Keras model's float32 outputs on a probe batch, so a
    converter bug or a damaged file on disk cannot put wrong rows in the
    cache.

    Parameters
    ----------
    model : keras.Model
        The engine's float32 model: uint8 pixels in, ``[embedding, logits]`` out.
    backbone : Backbone
    fingerprint : str
        The bf16 rows' fingerprint, which names the converted model on disk.
    precision : {"bf16", "f32"}, default="bf16"
        OpenVINO's inference precision (``"f32"`` is for comparisons).
    """

    def __init__(self, model, backbone, fingerprint, precision="bf16"):
        import openvino as ov

        self.core = ov.Core()
        self.precision = precision
        self.size = backbone.input_size
        path = model_dir(fingerprint)
        with contextlib.suppress(OSError):
            if path.is_dir():
                try:
                    self._start(self.core.read_model(str(path / "model.xml")), backbone)
                    self._check(model, backbone)
                    return
                except Exception:  # noqa: BLE001 - a damaged or foreign model: convert afresh below
                    shutil.rmtree(path, ignore_errors=True)
        ov_model = _convert(model, self.size)
        self._start(ov_model, backbone)
        self._check(model, backbone)
        _save(ov_model, path)

    def _start(self, ov_model, backbone):
        threads = _threads()
        config = {
            "INFERENCE_PRECISION_HINT": self.precision,
            "INFERENCE_NUM_THREADS": threads,
            "NUM_STREAMS": 1,  # one request at a time, on all the threads
            # Threads pinned to cores wait for them when other processes run there: unpinned
            # ran 1.2x as fast (median of 5 rounds) on 2 shared cores.
            "ENABLE_CPU_PINNING": False,
        }
        self.compiled = self.core.compile_model(ov_model, "CPU", config)
        # What OpenVINO settled on: "f32" where the CPU has no bf16 instructions.
        self.inference_precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()
        # Outputs are told apart by width; equal widths keep the converter's order (embedding first).
        outputs = sorted(
            self.compiled.outputs,
            key=lambda o: (int(o.get_partial_shape()[-1].get_length()) != backbone.embedding_dim, o.get_any_name()),
        )
        self.outputs = outputs
        self.request = self.compiled.create_infer_request()
        self.lock = threading.Lock()
        # Images per request: a few at a time ran 1.05x to 1.1x as fast as whole batches of 64 on
        # 2 cores (as with LiteRT, presumably each layer's activations then stay in the caches),
        # and at least one per thread keeps every thread busy on larger hosts.
        self.step = max(STEP, threads)

    def _check(self, model, backbone):
        size = backbone.input_size
        probe = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
        expected = [np.asarray(x, np.float32) for x in model.predict_on_batch(probe)]
        got = self(probe)
        for want, have in zip(expected, got, strict=True):
            if want.shape != have.shape:
                raise ConversionMismatch(
                    f"the OpenVINO conversion of {backbone.name} gives outputs of shape {have.shape}, "
                    f"its Keras model {want.shape}"
                )
            cosine = float(_row_cosines(want, have).min())
            if not cosine >= MIN_COSINE:
                raise ConversionMismatch(
                    f"the OpenVINO conversion of {backbone.name} does not match its Keras model "
                    f"(cosine similarity of rows {cosine:.4f}, at least {MIN_COSINE} expected)"
                )

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


def _row_cosines(a, b):
    """Cosine similarity of each row of ``a`` with the same row of ``b``; 1 for rows
    that are equal to 1e-3 of their size (rows of zeros have no direction)."""
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    size = np.linalg.norm(a, axis=1)
    norms = size * np.linalg.norm(b, axis=1)
    cosines = np.einsum("ij,ij->i", a, b) / np.maximum(norms, np.finfo(np.float32).tiny)
    return np.where(np.linalg.norm(a - b, axis=1) <= 1e-3 * np.maximum(size, 1.0), 1.0, cosines)
