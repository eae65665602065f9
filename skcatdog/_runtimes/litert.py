"""float32 on a CPU through LiteRT (TensorFlow Lite) with XNNPACK.

The engine's Keras model (preprocessing, folded backbone, both outputs) is
converted once with Keras's exporter and run by LiteRT's interpreter, whose
XNNPACK kernels were written for this kind of network (depthwise
convolutions, ReLU6, no BatchNorm left). Its rows equal the Keras model's to
1e-4, the tolerance already accepted for folding BatchNorm, so both share
cache rows.

The converted model is kept in the folder the caller names, keyed by the
rows' fingerprint and TensorFlow's version, so only the first process pays
for the conversion.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

from .._atomic import atomic_write
from . import keras as keras_runtime
from .common import check_against_keras, threads

__all__ = ["ID", "PRECISIONS", "TOLERANCE", "Forward", "available", "dtype_policy", "model_file", "rows_id"]

ID = "litert"
PRECISIONS = frozenset({"float32"})

# Part of the converted file's name: bump when the conversion changes.
LITERT_FORMAT = 2

#: Largest difference from the Keras model's outputs accepted, relative to
#: their magnitude (the tolerance of BatchNorm folding).
TOLERANCE = 1e-4


@functools.lru_cache(maxsize=1)
def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter  # the maintained package
    except ImportError:
        try:
            import tensorflow as tf
        except ImportError:
            return None
        Interpreter = getattr(getattr(tf, "lite", None), "Interpreter", None)
    return Interpreter


@functools.lru_cache(maxsize=1)
def _installed():
    # Found without importing it: a warm call, which builds no model, needs no interpreter.
    return any(importlib.util.find_spec(name) is not None for name in ("tensorflow.lite", "ai_edge_litert"))


def available():
    """Whether LiteRT can run here: Keras runs on TensorFlow (whose converter turns
    the Keras model into LiteRT's) and an interpreter is installed."""
    return keras_runtime.backend() == "tensorflow" and _installed()


def rows_id(precision):
    """The Keras model's: LiteRT's rows equal its float32 rows to 1e-4, so they share cache rows."""
    return keras_runtime.rows_id(precision)


def dtype_policy(precision):
    """``"float32"``: the float32 model is converted."""
    return "float32"


def model_file(directory, name):
    """The converted model named ``name`` in ``directory`` (keyed by TensorFlow's version too)."""
    import tensorflow as tf

    return Path(directory) / f"{name}-tf{tf.__version__}-v{LITERT_FORMAT}.tflite"


def _convert(model, size):
    """The model as a LiteRT flatbuffer with a dynamic batch dimension.

    Keras's own exporter first; it refuses variable names TensorFlow cannot
    scope (the EfficientNet-Lite weights keep PyTorch's ``_blocks...`` names),
    and those models go through a concrete function instead. Either result
    is checked against the Keras model before use: the concrete-function
    route has been seen to bake garbage in place of the weights of some models.
    """
    import tensorflow as tf

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "model.tflite")
        try:
            model.export(path, format="litert", verbose=False)
            return Path(path).read_bytes()
        except ValueError:
            pass
    spec = tf.TensorSpec([None, size, size, 3], tf.uint8, name="pixels")
    function = tf.function(lambda x: model(x, training=False)).get_concrete_function(spec)
    return tf.lite.TFLiteConverter.from_concrete_functions([function], model).convert()


class Forward:
    """``(b, size, size, 3)`` uint8 -> ``[embedding, logits]`` through LiteRT.

    Built only after the converted model has given the Keras model's outputs
    (to :data:`TOLERANCE`) on a probe batch.

    Parameters
    ----------
    model : keras.Model
        The engine's float32 model: uint8 pixels in, ``[embedding, logits]`` out.
    backbone : Backbone
    precision : {"float32"}, default="float32"
    name : str, default=None
        Names the converted model on disk (the rows' fingerprint).
    directory : path-like, default=None
        Where converted models are kept; ``None`` converts afresh.

    Raises
    ------
    ConversionMismatch
        The conversion does not give the Keras model's rows.
    """

    def __init__(self, model, backbone, *, precision="float32", name=None, directory=None):
        if precision != "float32":
            raise ValueError(f"LiteRT runs float32 only, not {precision!r}")
        path = None if directory is None or name is None else model_file(directory, name)
        if path is not None:
            with contextlib.suppress(OSError):
                self.flat = path.read_bytes()
                try:
                    self._start(backbone)
                    check_against_keras(self, model, backbone, runtime="LiteRT", tolerance=TOLERANCE)
                    return
                except Exception:  # noqa: BLE001 - a damaged or foreign file: convert afresh below
                    path.unlink()
        self.flat = _convert(model, backbone.input_size)
        self._start(backbone)
        check_against_keras(self, model, backbone, runtime="LiteRT", tolerance=TOLERANCE)
        if path is not None:
            with contextlib.suppress(OSError), atomic_write(path, "wb") as f:
                f.write(self.flat)

    def _start(self, backbone):
        n_threads = threads()
        interpreter = _interpreter_class()
        if interpreter is None:
            raise ImportError("no LiteRT interpreter: pip install ai-edge-litert")
        from .._quiet import native_start_up_hushed

        with native_start_up_hushed():  # LiteRT announces its XNNPACK delegate on stderr
            self.interpreter = interpreter(model_content=self.flat, num_threads=n_threads)
            self.interpreter.allocate_tensors()
        self.size = backbone.input_size
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = self.interpreter.get_output_details()
        # Outputs are told apart by width; equal widths keep the converter's order (embedding first).
        outputs = sorted(outputs, key=lambda d: (int(d["shape"][-1]) != backbone.embedding_dim, d["name"]))
        self.outputs = [d["index"] for d in outputs]
        self.lock = threading.Lock()
        # One image per thread per invoke runs faster than whole batches (presumably each layer's
        # activations then fit in the caches), and a batch's padding past its real images is never
        # computed. Rows do not depend on the count (tests/runtimes/test_litert.py).
        self.set_step(n_threads)

    def set_step(self, step):
        """Run ``step`` images per invoke from now on (the interpreter is shaped for it)."""
        with self.lock:
            self.interpreter.resize_tensor_input(self.input, [step, self.size, self.size, 3])
            self.interpreter.allocate_tensors()
            self.step = step

    def __call__(self, batch, n_real=None):
        """``[embedding, logits]`` of the first ``n_real`` images of ``batch`` (all by default)."""
        batch = np.ascontiguousarray(batch, dtype=np.uint8)
        n_real = len(batch) if n_real is None else n_real
        step, interpreter = self.step, self.interpreter
        parts = []
        with self.lock:
            for start in range(0, n_real, step):
                chunk = batch[start : min(start + step, n_real)]
                n = len(chunk)
                if n < step:  # the interpreter's shape is fixed: resizing costs more than padding
                    chunk = np.concatenate([chunk, np.zeros((step - n, *chunk.shape[1:]), np.uint8)])
                interpreter.set_tensor(self.input, chunk)
                interpreter.invoke()
                parts.append([interpreter.get_tensor(i)[:n].copy() for i in self.outputs])
        return [np.concatenate(column) for column in zip(*parts, strict=True)]
