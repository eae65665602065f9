"""Which precision and which runtime compute a backbone's rows in this process: decided here only.

The engine builds what :func:`select` names, the rows' fingerprint carries
its runtime's :func:`rows_id <skcatdog._runtimes.spec.Runtime.rows_id>`, and
``skcatdog info`` prints it, so the three cannot disagree.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import NamedTuple

from .._config import RUNTIMES as CPU_RUNTIMES
from .._config import get_config
from . import keras, litert, openvino
from .common import ConversionMismatch
from .spec import Runtime

__all__ = ["BF16_CHECKED", "PRECISIONS", "RUNTIMES", "Choice", "build_forward", "resolve_precision", "select"]

PRECISIONS = ("auto", "float32", "mixed", "bfloat16")

#: Backbones whose bfloat16 rows scored within 0.001 of their float32 rows' 5-fold CV
#: log-loss on the Dogs vs Cats photos, with both bfloat16 runtimes: the only ones
#: ``precision="auto"`` runs in bfloat16.
BF16_CHECKED = frozenset({"efficientnet_lite2"})

#: The runtime modules by ID.
RUNTIMES = {runtime.ID: runtime for runtime in (keras, litert, openvino)}


class Choice(NamedTuple):
    """What computes the rows: the resolved precision and the runtime module that runs it."""

    precision: str
    runtime: Runtime  # a module

    @property
    def rows_id(self):
        """The runtime's part of the rows' fingerprint."""
        return self.runtime.rows_id(self.precision)


def resolve_precision(precision, backbone=None):
    """The precision ``precision`` means here: ``"auto"`` resolved, anything else checked.

    ``"auto"`` is ``"mixed"`` on a GPU; on a CPU, ``"bfloat16"`` where the CPU
    computes in it natively (AMX or AVX-512 BF16), Keras runs on TensorFlow
    (where it was measured) and ``backbone`` is in :data:`BF16_CHECKED`;
    else ``"float32"``.

    Parameters
    ----------
    precision : {"auto", "float32", "mixed", "bfloat16"}
    backbone : str or Backbone, default=None
        The backbone whose rows are wanted; None counts as one whose bfloat16
        quality was never measured.

    Returns
    -------
    str
        ``"float32"``, ``"mixed"`` or ``"bfloat16"``.

    Examples
    --------
    >>> from skcatdog._runtimes import resolve_precision
    >>> resolve_precision("float32")
    'float32'
    >>> resolve_precision("auto", "efficientnet_lite0") in ("float32", "mixed")
    True
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision != "auto":
        return precision
    if keras.gpu_available():
        return "mixed"
    return "bfloat16" if _bf16_pays(backbone) else "float32"


def _bf16_pays(backbone):
    if backbone is None:
        return False
    from .._cpu import cpu_has_bf16
    from ..backbones import get_backbone

    return get_backbone(backbone).name in BF16_CHECKED and cpu_has_bf16() and keras.backend() == "tensorflow"


def select(precision, backbone=None):
    """The precision and the runtime that compute ``backbone``'s rows in this process.

    float32 runs on LiteRT where it can (a CPU, the TensorFlow backend,
    LiteRT installed) unless ``set_config(cpu_runtime="keras")``; bfloat16 on
    OpenVINO where it is installed; everything else on Keras.

    Parameters
    ----------
    precision : {"auto", "float32", "mixed", "bfloat16"}
        Resolved first, by :func:`resolve_precision`.
    backbone : str or Backbone, default=None

    Returns
    -------
    Choice
        ``(precision, runtime)``; ``runtime.ID`` names the runtime.

    Raises
    ------
    RuntimeError
        ``cpu_runtime="litert"`` was asked for where LiteRT cannot run.

    Examples
    --------
    >>> from skcatdog._runtimes import select
    >>> choice = select("mixed")
    >>> choice.precision, choice.runtime.ID
    ('mixed', 'keras')
    """
    precision = resolve_precision(precision, backbone)
    if precision == "float32" and _litert_runs():
        return Choice(precision, litert)
    if precision == "bfloat16" and openvino.available():
        return Choice(precision, openvino)
    return Choice(precision, keras)


def _litert_runs():
    """Whether float32 goes through LiteRT (see ``skcatdog.set_config(cpu_runtime=...)``)."""
    setting = get_config()["cpu_runtime"]
    if setting not in CPU_RUNTIMES:
        raise ValueError(f"cpu_runtime (or $SKCATDOG_CPU_RUNTIME) must be one of {CPU_RUNTIMES}, got {setting!r}")
    if setting == "keras":
        return False
    # On a GPU, Keras runs float32 there; LiteRT would run it on the CPU.
    possible = litert.available() and not keras.gpu_available()
    if setting == "litert" and not possible:
        raise RuntimeError(
            "cpu_runtime='litert' needs the TensorFlow backend, no GPU, and ai-edge-litert "
            "(pip install ai-edge-litert) or TensorFlow's tf.lite"
        )
    return possible


def build_forward(choice, model, backbone, *, name, directory):
    """The chosen runtime's forward pass over ``model``, and the runtime that runs it.

    A conversion that does not match the Keras model falls back to Keras,
    with a warning, where Keras gives the same rows (the same
    :attr:`Choice.rows_id`) and the runtime was not asked for by name;
    otherwise the mismatch is raised.

    Parameters
    ----------
    choice : Choice
        From :func:`select`.
    model : keras.Model
        The engine's model, built in ``choice.runtime.dtype_policy(choice.precision)``.
    backbone : Backbone
    name : str
        The rows' fingerprint: it names converted models on disk.
    directory : path-like or None
        The folder for converted models; each runtime keeps its own in
        ``directory / runtime.ID``. ``None`` keeps none.

    Returns
    -------
    runtime : module
    forward : ForwardPass
    """
    runtime, precision = choice.runtime, choice.precision
    folder = None if directory is None else Path(directory) / runtime.ID
    try:
        return runtime, runtime.Forward(model, backbone, precision=precision, name=name, directory=folder)
    except ConversionMismatch as exc:
        asked = get_config()["cpu_runtime"] == runtime.ID
        if runtime is keras or asked or keras.rows_id(precision) != choice.rows_id:
            raise
        warnings.warn(f"{exc}; the forward pass runs on Keras instead", RuntimeWarning, stacklevel=3)
    return keras, keras.Forward(model, backbone, precision=precision)
