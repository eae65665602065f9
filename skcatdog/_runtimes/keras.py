"""The Keras model itself: every precision, on every Keras backend and device.

The fallback runtime: it runs what no converted model runs (mixed float16 on
a GPU, any backend but TensorFlow, bfloat16 without OpenVINO), and float32
wherever LiteRT cannot. Device queries live here because it is the Keras
backend that sees the devices.
"""

from __future__ import annotations

import functools
import importlib.util
import sys

__all__ = [
    "ID",
    "PRECISIONS",
    "Forward",
    "available",
    "backend",
    "dtype_policy",
    "gpu_available",
    "gpu_name",
    "load",
    "rows_id",
]

ID = "keras"
PRECISIONS = frozenset({"float32", "mixed", "bfloat16"})

_POLICIES = {"float32": "float32", "mixed": "mixed_float16", "bfloat16": "mixed_bfloat16"}


def available():
    """Whether Keras is installed (it is a dependency: always, in a working install)."""
    return importlib.util.find_spec("keras") is not None


def load():
    """Keras, imported and its devices queried once per process without TensorFlow's native start-up lines.

    Every path that builds or runs a model asks for the backend or the
    devices first, so this is where Keras (and TensorFlow) first load.
    """
    if "keras" not in sys.modules:
        from .._quiet import native_start_up_hushed

        with native_start_up_hushed():
            import keras

            if keras.backend.backend() == "tensorflow":
                try:
                    import tensorflow as tf

                    tf.config.list_physical_devices("GPU")  # the first device query logs CUDA's absence
                except Exception:  # noqa: BLE001 - gpu_available() asks again and decides
                    pass
    import keras

    return keras


def backend():
    """The Keras backend's name (``"tensorflow"``, ``"jax"``, ``"torch"``)."""
    return load().backend.backend()


def rows_id(precision):
    """What besides the precision decides the rows of ``precision``.

    float32 rows agree across runtimes and backends to 1e-4, so they share
    one id; lower precisions round differently on each backend.

    Examples
    --------
    >>> from skcatdog._runtimes import keras
    >>> keras.rows_id("float32")
    'any'
    """
    if precision == "float32":
        return "any"
    if precision == "mixed":
        return backend()
    return f"keras-{backend()}"


def dtype_policy(precision):
    """Keras's mixed-precision policy for ``precision``: the model computes in it."""
    return _POLICIES[precision]


@functools.lru_cache(maxsize=1)  # devices do not come and go within a process
def gpu_available():
    """Whether Keras's backend sees a GPU."""
    name = backend()
    try:
        if name == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if name == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        if name == "torch":
            import torch

            return torch.cuda.is_available()
    except Exception:  # noqa: BLE001 - a broken accelerator stack means "use the CPU"
        return False
    return False


def gpu_name():
    """The name of the GPU Keras's backend runs on, or ``None`` where it sees none."""
    if not gpu_available():
        return None
    name = backend()
    try:
        if name == "torch":
            import torch

            return torch.cuda.get_device_name(0)
        if name == "jax":
            import jax

            return next(d.device_kind for d in jax.devices() if d.platform == "gpu")
        import tensorflow as tf

        device = tf.config.list_physical_devices("GPU")[0]
        return tf.config.experimental.get_device_details(device).get("device_name", device.name)
    except Exception:  # noqa: BLE001 - the name is for people; the GPU is there all the same
        return "GPU"


class Forward:
    """The Keras model's own compiled forward pass.

    Batches keep one fixed shape, padding included, so no backend traces the
    model twice; the caller drops the padding's rows.

    Parameters
    ----------
    model : keras.Model
        The engine's model, built in :func:`dtype_policy`'s policy.
    backbone : Backbone
    precision : str, default="float32"
    name, directory : optional
        Unused: nothing is converted.
    """

    def __init__(self, model, backbone, *, precision="float32", name=None, directory=None):
        self.model = model
        self.precision = precision

    def __call__(self, batch, n_real=None):
        """``[embedding, logits]`` of every image of ``batch``, padding included."""
        return self.model.predict_on_batch(batch)
