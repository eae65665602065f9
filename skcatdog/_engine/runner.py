"""The model side of the engine: which precision, which runtime, one compiled
forward pass per model and process, and the fingerprint of the rows it makes."""

from __future__ import annotations

import functools
import threading
import time
import warnings

import numpy as np

from .. import _images
from .._config import RUNTIMES, get_config
from .._store import model_fingerprint
from ..backbones import PREPROCESSING, get_backbone
from .stats import stats

__all__ = [
    "PRECISIONS",
    "Runner",
    "clear_runners",
    "fingerprint",
    "get_runner",
    "gpu_available",
    "resolve_batch_size",
    "resolve_precision",
]

PRECISIONS = ("auto", "float32", "mixed", "bfloat16")

#: Backbones whose bfloat16 rows scored within 0.001 of their float32 rows' 5-fold CV
#: log-loss on the Dogs vs Cats photos (both bf16 runtimes; the documentation's performance
#: page): the only ones ``precision="auto"`` runs in bfloat16.
BF16_CHECKED = frozenset({"efficientnet_lite2"})


@functools.lru_cache(maxsize=1)  # devices do not come and go within a process
def gpu_available():
    """Whether Keras's backend sees a GPU."""
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        if backend == "torch":
            import torch

            return torch.cuda.is_available()
    except Exception:  # noqa: BLE001 - a broken accelerator stack means "use the CPU"
        return False
    return False


def gpu_name():
    """The name of the GPU Keras's backend runs on, or ``None`` where it sees none."""
    if not gpu_available():
        return None
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "torch":
            import torch

            return torch.cuda.get_device_name(0)
        if backend == "jax":
            import jax

            return next(d.device_kind for d in jax.devices() if d.platform == "gpu")
        import tensorflow as tf

        device = tf.config.list_physical_devices("GPU")[0]
        return tf.config.experimental.get_device_details(device).get("device_name", device.name)
    except Exception:  # noqa: BLE001 - the name is for people; the GPU is there all the same
        return "GPU"


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


def resolve_precision(precision, backbone=None):
    """``"auto"`` is mixed precision on a GPU; on a CPU, bfloat16 where :func:`_bf16_pays`, else float32."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        if gpu_available():
            return "mixed"
        return "bfloat16" if _bf16_pays(backbone) else "float32"
    return precision


def _bf16_pays(backbone):
    """Whether ``"auto"`` runs ``backbone`` in bfloat16 on this CPU: where the CPU has bf16
    instructions (AMX or AVX-512 BF16: bf16 ran 1.7x to 2.5x LiteRT's float32 there), on
    TensorFlow (where it was measured), and for backbones whose quality was measured to hold."""
    if backbone is None or get_backbone(backbone).name not in BF16_CHECKED:
        return False
    from .._cpu import cpu_has_bf16

    if not cpu_has_bf16():
        return False
    import keras

    return keras.backend.backend() == "tensorflow"


def _bf16_runtime():
    """What runs ``precision="bfloat16"``: OpenVINO where it is installed and the backend is
    TensorFlow (its converter traces the Keras model), else Keras's ``mixed_bfloat16``."""
    import keras

    from .. import _openvino

    return "openvino" if keras.backend.backend() == "tensorflow" and _openvino.available() else "keras"


def runtime_for(precision):
    """What runs ``precision`` (resolved) in this process, as :attr:`Runner.runtime` names
    it, found without building a model: the one place that decides it."""
    if precision == "float32" and _use_litert():
        return "litert"
    if precision == "bfloat16" and _bf16_runtime() == "openvino":
        return "openvino"
    return "keras"


def _preprocessing_layer(mode):
    import keras
    from keras import ops

    class Preprocess(keras.layers.Layer):
        def call(self, x):
            return ops.cast(PREPROCESSING[mode](ops.cast(x, "float32"), ops), self.compute_dtype)

    return Preprocess(name="preprocess")


class Runner:
    """A built model and its fixed-shape compiled forward pass."""

    def __init__(self, backbone, weights, precision):
        import keras

        size = backbone.input_size
        planned = runtime_for(precision)
        previous = keras.config.dtype_policy()
        try:
            if precision == "mixed":
                keras.config.set_dtype_policy("mixed_float16")
            elif precision == "bfloat16" and planned == "keras":
                keras.config.set_dtype_policy("mixed_bfloat16")
            core = backbone.build_model(weights)
            inputs = keras.Input((size, size, 3), dtype="uint8", name="pixels")
            embedding, logits = core(_preprocessing_layer(backbone.preprocessing)(inputs))
            outputs = [
                keras.layers.Activation("linear", dtype="float32", name="embedding")(embedding),
                keras.layers.Activation("linear", dtype="float32", name="logits")(logits),
            ]
        finally:
            keras.config.set_dtype_policy(previous)
        self.model = keras.Model(inputs, outputs, name=f"skcatdog_{backbone.name}")
        self.lock = threading.Lock()
        self.lite = self.bf16 = None
        if planned == "openvino":
            from .._openvino import BF16Forward

            # No fallback to Keras on a mismatch: Keras's bf16 rows have a fingerprint of their own.
            self.bf16 = BF16Forward(self.model, backbone, fingerprint(backbone, weights, precision))
        if planned == "litert":
            from .._litert import ConversionMismatch, LiteForward

            try:
                self.lite = LiteForward(self.model, backbone, fingerprint(backbone, weights, precision))
            except ConversionMismatch as exc:
                if get_config()["cpu_runtime"] == "litert":
                    raise
                warnings.warn(f"{exc}; the forward pass runs on Keras instead", RuntimeWarning, stacklevel=2)
        self.runtime = "litert" if self.lite is not None else "openvino" if self.bf16 is not None else "keras"
        stats.add(models_built=1)

    def forward(self, batch, n_real=None):
        """``(b, size, size, 3)`` uint8 -> float32 ``(n_real, dim + n_classes)``.

        Rows past ``n_real`` are padding that keeps the batch shape fixed.
        """
        n_real = len(batch) if n_real is None else n_real
        t = time.perf_counter()
        with self.lock:
            if self.lite is not None:
                embedding, logits = self.lite(batch, n_real)
            elif self.bf16 is not None:
                embedding, logits = self.bf16(batch, n_real)
            else:
                embedding, logits = self.model.predict_on_batch(batch)
        stats.add(images_forwarded=n_real, seconds_forward=time.perf_counter() - t)
        return np.concatenate(
            [np.asarray(embedding[:n_real], np.float32), np.asarray(logits[:n_real], np.float32)], axis=1
        )


def _use_litert():
    """Whether float32 forward passes go through LiteRT (see ``skcatdog.set_config``)."""
    import keras

    runtime = get_config()["cpu_runtime"]
    if runtime not in RUNTIMES:
        raise ValueError(f"cpu_runtime (or $SKCATDOG_CPU_RUNTIME) must be one of {RUNTIMES}, got {runtime!r}")
    if runtime == "keras":
        return False
    from .._litert import available

    possible = keras.backend.backend() == "tensorflow" and not gpu_available()
    if runtime == "litert" and not (possible and available()):
        raise RuntimeError(
            "cpu_runtime='litert' needs the TensorFlow backend, no GPU, and ai-edge-litert "
            "(pip install ai-edge-litert) or TensorFlow's tf.lite"
        )
    return possible and available()


_RUNNERS: dict[tuple, Runner] = {}
_RUNNERS_LOCK = threading.Lock()


def get_runner(backbone, weights, precision):
    """The process-wide runner for this model; built once, never pickled."""
    backbone = get_backbone(backbone)
    key = (
        backbone.name,
        backbone.weights_identity(weights),
        precision,
        _precision_backend(precision),
        get_config()["cpu_runtime"],
    )
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
    return model_fingerprint(
        backbone=backbone.name,
        revision=backbone.revision,
        weights=backbone.weights_identity(weights),
        input_size=backbone.input_size,
        preprocessing=backbone.preprocessing,
        pooling="avg",
        outputs=["embedding", backbone.embedding_dim, "logits", backbone.n_classes],
        precision=precision,
        decoder=decoder,
        backend=_precision_backend(precision),
    )


def _precision_backend(precision):
    """What besides the precision decides rows that differ from float32's by more than 1e-4."""
    import keras

    if precision == "mixed":
        return keras.backend.backend()
    if precision == "bfloat16":
        from .._openvino import runtime_id

        return runtime_id() if _bf16_runtime() == "openvino" else f"keras-{keras.backend.backend()}"
    return "any"
