"""What the converting runtimes share: their thread count and the check of a conversion."""

from __future__ import annotations

import os

import numpy as np

__all__ = ["ConversionMismatch", "check_against_keras", "row_cosines", "threads"]


class ConversionMismatch(RuntimeError):
    """A converted model does not give the Keras model's rows."""


def threads():
    """Threads for one forward pass: TensorFlow's intra-op setting if one was made
    (a Dask worker that shares the host's cores sets it), else every core this
    process may use."""
    import tensorflow as tf

    intra = tf.config.threading.get_intra_op_parallelism_threads()
    if intra > 0:
        return intra
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def check_against_keras(forward, model, backbone, *, runtime, tolerance=None, min_cosine=None):
    """Raise :class:`ConversionMismatch` unless ``forward`` gives ``model``'s outputs on a probe batch.

    Run before a converted model computes any row, so a converter bug or a
    damaged file on disk cannot put wrong rows in the cache.

    Parameters
    ----------
    forward : ForwardPass
        The converted model.
    model : keras.Model
        The engine's Keras model it was converted from.
    backbone : Backbone
    runtime : str
        The runtime's name, for the message.
    tolerance : float, default=None
        The largest difference accepted, relative to the outputs' magnitude
        (at least 1): for conversions that compute in float32.
    min_cosine : float, default=None
        The smallest cosine similarity accepted between a row and the Keras
        model's: for conversions that compute in a lower precision.
    """
    size = backbone.input_size
    probe = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    expected = [np.asarray(x, np.float32) for x in model.predict_on_batch(probe)]
    for want, have in zip(expected, forward(probe), strict=True):
        if want.shape != have.shape:
            raise ConversionMismatch(
                f"the {runtime} conversion of {backbone.name} gives outputs of shape {have.shape}, "
                f"its Keras model {want.shape}"
            )
        problem = None
        if tolerance is not None:
            difference = float(np.abs(want - have).max())
            if not difference <= tolerance * max(1.0, float(np.abs(want).max())):  # NaN fails too
                problem = f"max difference {difference:.3g}"
        if min_cosine is not None:
            cosine = float(row_cosines(want, have).min())
            if not cosine >= min_cosine:
                problem = f"cosine similarity of rows {cosine:.4f}, at least {min_cosine} expected"
        if problem:
            raise ConversionMismatch(
                f"the {runtime} conversion of {backbone.name} does not match its Keras model ({problem})"
            )


def row_cosines(a, b):
    """Cosine similarity of each row of ``a`` with the same row of ``b``.

    Rows equal to 1e-3 of their size count as 1: a row of zeros has no direction.

    Examples
    --------
    >>> import numpy as np
    >>> row_cosines(np.array([[1.0, 0.0], [0.0, 0.0]]), np.array([[2.0, 0.0], [0.0, 0.0]]))
    array([1., 1.])
    """
    a, b = a.reshape(len(a), -1), b.reshape(len(b), -1)
    size = np.linalg.norm(a, axis=1)
    norms = size * np.linalg.norm(b, axis=1)
    cosines = np.einsum("ij,ij->i", a, b) / np.maximum(norms, np.finfo(np.float32).tiny)
    return np.where(np.linalg.norm(a - b, axis=1) <= 1e-3 * np.maximum(size, 1.0), 1.0, cosines)
