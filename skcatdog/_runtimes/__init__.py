"""The runtimes that run the forward pass, one module each, and the choice between them.

Each runtime module (:mod:`.keras`, :mod:`.litert`, :mod:`.openvino`)
satisfies :class:`~skcatdog._runtimes.spec.Runtime`: an ``ID``, the
precisions it runs, ``available()``, the identity of its rows and a
``Forward`` class. :func:`select` alone decides which one computes a
precision in this process; the engine, ``skcatdog info`` and the cluster path
ask it. A runtime knows nothing of the engine or the store: the engine
names the folder for converted models.

Importing this package imports neither Keras, TensorFlow nor OpenVINO.
"""

from . import keras, litert, openvino
from .common import ConversionMismatch, threads
from .keras import gpu_available, gpu_name
from .selection import BF16_CHECKED, PRECISIONS, RUNTIMES, Choice, build_forward, resolve_precision, select
from .spec import ForwardPass, Runtime

__all__ = [
    "BF16_CHECKED",
    "PRECISIONS",
    "RUNTIMES",
    "Choice",
    "ConversionMismatch",
    "ForwardPass",
    "Runtime",
    "build_forward",
    "gpu_available",
    "gpu_name",
    "keras",
    "litert",
    "openvino",
    "resolve_precision",
    "select",
    "threads",
]
