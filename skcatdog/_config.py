"""Process-wide settings, in scikit-learn's ``get_config`` / ``set_config`` style.

They govern resources, never results: no setting changes a row's values,
so none of them is an estimator parameter or part of a cache key. What
changes rows (the backbone, its precision, the decoder) is a parameter of
the estimators.
"""

from __future__ import annotations

import contextlib
import os
import threading
import warnings

__all__ = [
    "DECODE_POOLS",
    "RUNTIMES",
    "config_context",
    "get_config",
    "gpu_decoding_asked",
    "set_config",
    "setting",
]

RUNTIMES = ("auto", "litert", "keras")
#: Where Pillow decodes photos: the same pixels either way, so the same rows.
DECODE_POOLS = ("auto", "threads", "processes")
#: Accepted with a FutureWarning: decoding on the GPU changes rows, so it is the estimators' parameter.
_DEPRECATED_DECODER = "gpu"


def _env_int(name, default):
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"${name} must be an integer number of bytes, got {value!r}") from None


_global = {
    # Rows kept in process memory, so repeated ``transform`` calls inside one
    # GridSearchCV cost a dictionary lookup, not SQLite reads.
    "memory_cache_bytes": _env_int("SKCATDOG_MEMORY_CACHE_BYTES", 512 * 2**20),
    # Larger files are refused before they are read whole (a stray video or
    # disk image among photos would otherwise be read into memory).
    "max_file_bytes": _env_int("SKCATDOG_MAX_FILE_BYTES", 256 * 2**20),
    "cpu_runtime": os.environ.get("SKCATDOG_CPU_RUNTIME", "auto"),
    "decoder": os.environ.get("SKCATDOG_DECODER", "auto"),
}
_lock = threading.Lock()
if _global["decoder"] == _DEPRECATED_DECODER:
    warnings.warn(
        "SKCATDOG_DECODER=gpu is deprecated and will be removed: GPU-decoded rows differ from Pillow's, so the "
        "decoder is an estimator parameter; pass decoder='gpu' to the estimator",
        FutureWarning,
        stacklevel=2,
    )


def setting(name):
    """One setting, without the copy :func:`get_config` makes (hot paths call this)."""
    return _global[name]


def get_config():
    """The current settings.

    Returns
    -------
    dict
        ``memory_cache_bytes``, ``max_file_bytes``, ``cpu_runtime`` and
        ``decoder``; see :func:`set_config`.
    """
    return dict(_global)


def set_config(*, memory_cache_bytes=None, max_file_bytes=None, cpu_runtime=None, decoder=None):
    """Change process-wide settings; ``None`` leaves a setting as it is.

    Parameters
    ----------
    memory_cache_bytes : int, optional
        Bound on the embedding rows, and the outputs of calls that may be
        asked for again, kept in process memory (least recently used go
        first); ``0`` disables it. Default 512 MiB, or
        ``$SKCATDOG_MEMORY_CACHE_BYTES``.
    max_file_bytes : int, optional
        Image files larger than this are bad items, refused before they are
        read. Default 256 MiB, or ``$SKCATDOG_MAX_FILE_BYTES``.
    cpu_runtime : {"auto", "litert", "keras"}, optional
        What runs the forward pass in float32 on a CPU: ``"litert"`` (LiteRT
        with XNNPACK, converted from the Keras model; TensorFlow backend
        only), ``"keras"`` (the compiled Keras model) or ``"auto"`` (LiteRT
        where it can run, else Keras). Default ``$SKCATDOG_CPU_RUNTIME`` or
        ``"auto"``. Both give the same rows to 1e-4 and share cache rows.
    decoder : {"auto", "threads", "processes"}, optional
        Where Pillow decodes photos: in ``n_jobs`` threads, or in ``n_jobs``
        worker processes (which scale past the few cores threads do; they
        start once per process and stay). ``"auto"``: processes on hosts
        with more than four cores, else threads. Both give the same pixels,
        so the same cache rows. Decoding on the GPU gives other rows, so it
        is the estimators' ``decoder`` parameter, not a setting. Default
        ``$SKCATDOG_DECODER`` or ``"auto"``.

        .. deprecated:: 0.2.0
           ``decoder="gpu"`` (and ``$SKCATDOG_DECODER=gpu``) makes the
           estimators' ``decoder="auto"`` decode on the GPU; it will be
           removed. Pass ``decoder="gpu"`` to the estimator instead.

    Examples
    --------
    >>> import skcatdog
    >>> skcatdog.set_config(memory_cache_bytes=2**30)
    >>> skcatdog.get_config()["memory_cache_bytes"]
    1073741824
    >>> skcatdog.set_config(memory_cache_bytes=512 * 2**20)
    """
    changes = {}
    for name, value in (("memory_cache_bytes", memory_cache_bytes), ("max_file_bytes", max_file_bytes)):
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative integer, got {value!r}")
        changes[name] = value
    for name, value, choices in (("cpu_runtime", cpu_runtime, RUNTIMES), ("decoder", decoder, DECODE_POOLS)):
        if value is None:
            continue
        if value not in choices and not (name == "decoder" and value == _DEPRECATED_DECODER):
            raise ValueError(f"{name} must be one of {choices}, got {value!r}")
        changes[name] = value
    if decoder == _DEPRECATED_DECODER:
        warnings.warn(
            "set_config(decoder='gpu') is deprecated and will be removed: GPU-decoded rows differ from "
            "Pillow's, so the decoder is an estimator parameter; pass decoder='gpu' to the estimator "
            "(for example KerasEmbeddingTransformer(decoder='gpu'))",
            FutureWarning,
            stacklevel=2,
        )
    with _lock:
        _global.update(changes)


def gpu_decoding_asked():
    """Whether the deprecated ``set_config(decoder="gpu")`` (or ``$SKCATDOG_DECODER=gpu``) is in force."""
    return _global["decoder"] == _DEPRECATED_DECODER


@contextlib.contextmanager
def config_context(**settings):
    """Apply :func:`set_config` settings inside a ``with`` block only.

    Parameters
    ----------
    **settings
        Keyword arguments of :func:`set_config`.

    Yields
    ------
    None
    """
    old = get_config()
    set_config(**settings)
    try:
        yield
    finally:
        with _lock:  # the values in force before, as they were (no second deprecation warning)
            _global.update(old)
