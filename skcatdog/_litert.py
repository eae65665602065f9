"""The float32 CPU forward pass through LiteRT (TensorFlow Lite) with XNNPACK.

The engine's Keras model (preprocessing, folded backbone, both outputs) is
converted once with ``tf.lite.TFLiteConverter`` and run by LiteRT's
interpreter, whose XNNPACK kernels were written for exactly this kind of
network (depthwise convolutions, ReLU6, no BatchNorm left).  Its rows equal
the Keras model's to 1e-4 (``tests/test_litert.py``), the tolerance already
accepted for folding BatchNorm, so both share cache rows.

The converted model is kept on disk beside the default cache, keyed by the
model fingerprint and the TensorFlow version, so only the first process pays
for the conversion.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
import threading
from pathlib import Path

import numpy as np

__all__ = ["LiteForward", "available", "model_file"]

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


def available():
    """Whether a LiteRT interpreter can be imported."""
    return _interpreter_class() is not None


def _threads():
    """The interpreter's threads: TensorFlow's intra-op setting if one was made
    (a Dask worker that shares the cores sets it), else every core we may use."""
    import tensorflow as tf

    intra = tf.config.threading.get_intra_op_parallelism_threads()
    if intra > 0:
        return intra
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _convert(model, size):
    """The model as a LiteRT flatbuffer with a dynamic batch dimension.

    Keras's own exporter first; it refuses variable names TensorFlow cannot
    scope (the EfficientNet-Lite weights keep PyTorch's ``_blocks...`` names),
    and those models go through a concrete function instead.  Either result
    is checked against the Keras model before use (:class:`LiteForward`):
    the concrete-function route has been seen to bake garbage in place of
    the weights of some models.
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


def model_file(fingerprint):
    """Where the converted model for ``fingerprint`` is kept (keyed by TensorFlow's version too)."""
    import tensorflow as tf

    from ._store import default_cache_dir

    return default_cache_dir() / "litert" / f"{fingerprint}-tf{tf.__version__}-v{LITERT_FORMAT}.tflite"


def _save(path, flat):
    """Keep a converted model for later processes; written whole or not at all."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(flat)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise


class ConversionMismatch(RuntimeError):
    """The converted model does not give the Keras model's rows."""


class LiteForward:
    """``(b, size, size, 3)`` uint8 -> ``(embedding, logits)`` through LiteRT.

    Built only after the converted model has given the Keras model's outputs
    (to the BatchNorm-folding tolerance) on a probe batch, so a converter bug
    or a damaged file on disk cannot put wrong rows in the cache.
    """

    def __init__(self, model, backbone, fingerprint):
        path = model_file(fingerprint)
        with contextlib.suppress(OSError):
            self.flat = path.read_bytes()
            try:
                self._start(backbone)
                self._check(model, backbone)
                return
            except Exception:  # noqa: BLE001 - a damaged or foreign file: convert afresh below
                path.unlink()
        self.flat = _convert(model, backbone.input_size)
        self._start(backbone)
        self._check(model, backbone)
        _save(path, self.flat)

    def _start(self, backbone):
        threads = _threads()
        self.interpreter = _interpreter_class()(model_content=self.flat, num_threads=threads)
        self.size = backbone.input_size
        self.input = self.interpreter.get_input_details()[0]["index"]
        outputs = self.interpreter.get_output_details()
        # Outputs are told apart by width; equal widths keep the converter's order (embedding first).
        outputs = sorted(outputs, key=lambda d: (int(d["shape"][-1]) != backbone.embedding_dim, d["name"]))
        self.outputs = [d["index"] for d in outputs]
        self.lock = threading.Lock()
        # Images per invoke: one per thread, which ran faster than whole batches (README,
        # "Embedding speed"; presumably each layer's activations then fit in the caches),
        # and a batch's padding past its real images is never computed. Rows do not
        # depend on the count (bit for bit here, from 1 to 64; tests/test_litert.py).
        self.set_step(threads)

    def set_step(self, step):
        """Run ``step`` images per invoke from now on (the interpreter is shaped for it)."""
        with self.lock:
            self.interpreter.resize_tensor_input(self.input, [step, self.size, self.size, 3])
            self.interpreter.allocate_tensors()
            self.step = step

    def _check(self, model, backbone):
        size = backbone.input_size
        probe = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
        expected = [np.asarray(x, np.float32) for x in model.predict_on_batch(probe)]
        got = self(probe)
        for want, have in zip(expected, got, strict=True):
            scale = max(1.0, float(np.abs(want).max()))
            if want.shape != have.shape or not np.abs(want - have).max() <= TOLERANCE * scale:
                raise ConversionMismatch(
                    f"the LiteRT conversion of {backbone.name} does not match its Keras model "
                    f"(max difference {np.abs(want - have).max() if want.shape == have.shape else 'shape'})"
                )

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
