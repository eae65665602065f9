"""The model side of the engine: one compiled forward pass per model and process,
built on the runtime that :func:`skcatdog._runtimes.select` names, and the
fingerprint of the rows it makes."""

from __future__ import annotations

import threading
import time

import numpy as np

from .. import _images
from .._config import get_config
from .._runtimes import PRECISIONS, build_forward, gpu_available, gpu_name, resolve_precision, select
from .._store import default_cache_dir, model_fingerprint
from ..backbones import PREPROCESSING, get_backbone
from .stats import stats

__all__ = [
    "PRECISIONS",
    "Runner",
    "clear_runners",
    "fingerprint",
    "get_runner",
    "gpu_available",
    "gpu_name",
    "resolve_batch_size",
    "resolve_precision",
]


def to_device(pixels):
    """Host pixels copied to the device the model runs on, as the Keras backend's array,
    the copy finished on return; pixels already on a device are passed through."""
    if not isinstance(pixels, np.ndarray):
        return pixels
    import keras

    # A fresh host copy first: some backends keep a reference to a NumPy buffer
    # instead of copying it, and the decoder refills its buffer for the next batch.
    on_device = keras.ops.convert_to_tensor(np.array(pixels))
    if hasattr(on_device, "block_until_ready"):  # JAX copies asynchronously
        on_device.block_until_ready()
    return on_device


def resolve_batch_size(batch_size):
    """``"auto"`` is 256 images per forward pass on a GPU and 64 elsewhere."""
    if batch_size == "auto":
        return 256 if gpu_available() else 64
    return batch_size


def _preprocessing_layer(mode):
    import keras
    from keras import ops

    class Preprocess(keras.layers.Layer):
        def call(self, x):
            return ops.cast(PREPROCESSING[mode](ops.cast(x, "float32"), ops), self.compute_dtype)

    return Preprocess(name="preprocess")


def _build_model(backbone, weights, policy):
    """The engine's Keras model: uint8 pixels in, float32 ``[embedding, logits]`` out,
    computing in the dtype policy ``policy`` (the global policy is left as it was)."""
    import keras

    size = backbone.input_size
    previous = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy(policy)
        core = backbone.build_model(weights)
        inputs = keras.Input((size, size, 3), dtype="uint8", name="pixels")
        embedding, logits = core(_preprocessing_layer(backbone.preprocessing)(inputs))
        outputs = [
            keras.layers.Activation("linear", dtype="float32", name="embedding")(embedding),
            keras.layers.Activation("linear", dtype="float32", name="logits")(logits),
        ]
    finally:
        keras.config.set_dtype_policy(previous)
    return keras.Model(inputs, outputs, name=f"skcatdog_{backbone.name}")


class Runner:
    """A built model and its forward pass, on the runtime :func:`~skcatdog._runtimes.select` names.

    ``runtime`` is the runtime's ID; ``forward_pass`` the runtime's
    :class:`~skcatdog._runtimes.ForwardPass`.
    """

    def __init__(self, backbone, weights, precision):
        choice = select(precision, backbone)
        self.model = _build_model(backbone, weights, choice.runtime.dtype_policy(choice.precision))
        self.lock = threading.Lock()
        name = fingerprint(backbone, weights, choice.precision)
        runtime, self.forward_pass = build_forward(
            choice, self.model, backbone, name=name, directory=default_cache_dir()
        )
        self.runtime = runtime.ID
        stats.add(models_built=1)

    def forward(self, batch, n_real=None):
        """``(b, size, size, 3)`` uint8 -> float32 ``(n_real, dim + n_classes)``.

        Rows past ``n_real`` are padding that keeps the batch shape fixed.
        """
        n_real = len(batch) if n_real is None else n_real
        t = time.perf_counter()
        with self.lock:
            embedding, logits = self.forward_pass(batch, n_real)
        stats.add(images_forwarded=n_real, seconds_forward=time.perf_counter() - t)
        return np.concatenate(
            [np.asarray(embedding[:n_real], np.float32), np.asarray(logits[:n_real], np.float32)], axis=1
        )


_RUNNERS: dict[tuple, Runner] = {}
_RUNNERS_LOCK = threading.Lock()


def get_runner(backbone, weights, precision):
    """The process-wide runner for this model; built once, never pickled."""
    backbone = get_backbone(backbone)
    # The runtime is part of the key: a setting or an install that changes it builds another runner.
    key = (backbone.name, backbone.weights_identity(weights), *select(precision, backbone), get_config()["cpu_runtime"])
    with _RUNNERS_LOCK:
        if key not in _RUNNERS:
            _RUNNERS[key] = Runner(backbone, weights, precision)
        return _RUNNERS[key]


def clear_runners():
    """Forget every built model: the next call builds (or converts) its model again."""
    with _RUNNERS_LOCK:
        _RUNNERS.clear()


def fingerprint(backbone, weights, precision, decoder=_images.DECODER_ID):
    """Everything that decides a row's values, hashed (see :func:`skcatdog._store.model_fingerprint`).

    ``decoder`` names the decoder's pixels: decoders that give Pillow's pixels share its rows.
    """
    backbone = get_backbone(backbone)
    choice = select(precision, backbone)
    return model_fingerprint(
        backbone=backbone.name,
        revision=backbone.revision,
        weights=backbone.weights_identity(weights),
        input_size=backbone.input_size,
        preprocessing=backbone.preprocessing,
        pooling="avg",
        outputs=["embedding", backbone.embedding_dim, "logits", backbone.n_classes],
        precision=choice.precision,
        decoder=decoder,
        # The key's old name: renaming it would orphan every cached row.
        backend=choice.rows_id,
    )
