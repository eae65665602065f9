"""Audits of embeddings the caller already has: checked once, no photo read, no model loaded.

:func:`given_context` builds the :class:`~skcatdog.audit.AuditContext` of an
audit from an ``n x d`` matrix of embeddings (and, optionally, ImageNet
logits) whose rows ``X`` only names. Exact copies are identical rows (each
row's bytes hashed); nothing holds pixels, so no grey prints and no pixel
measures: checks that need them cannot run.

The matrix is used as given (float32 or float64, an ``np.memmap`` included):
it is read a block of rows at a time and never copied whole.
"""

from __future__ import annotations

import hashlib
import os

import numpy as np

from .context import AuditContext, PhotoSet

__all__ = ["BLOCK", "IMAGENET_CLASSES", "PIXEL_NEEDS", "as_names", "check_matrix", "given_context", "row_digests"]

#: Rows checked or hashed at once (a block of 1,280 float64 columns is 40 MiB).
BLOCK = 4096
#: The logits' width: one column per ImageNet class.
IMAGENET_CLASSES = 1000
#: What only photos give: a check that needs one of these cannot run on given embeddings.
PIXEL_NEEDS = frozenset({"pixel_measures", "grey_prints"})


def as_names(X, what="X"):
    """The items' names, one ``str`` per row: paths, ids, or anything else that names a row."""
    if isinstance(X, (str, bytes, os.PathLike)):
        raise ValueError(f"{what} must be a sequence of names, one per row, got a single name {X!r}; wrap it in a list")
    if hasattr(X, "iloc") and hasattr(X, "columns"):  # a DataFrame of one column
        if X.shape[1] != 1:
            raise ValueError(f"{what} must be one column of names, got a DataFrame with {X.shape[1]} columns")
        X = X.iloc[:, 0]
    values = X.tolist() if hasattr(X, "tolist") else list(X)
    if isinstance(X, np.ndarray) and X.ndim != 1:
        raise ValueError(f"{what} must name the rows in one dimension, got an array of shape {X.shape}")
    if not values:
        raise ValueError(f"{what} is empty: name at least one row")
    return [os.fspath(v) if isinstance(v, os.PathLike) else str(v) for v in values]


def check_matrix(x, name, *, rows, columns=None):
    """``x`` as a 2-D float array of ``rows`` rows, or one clear error naming what is wrong.

    float32 and float64 are kept as they are (no copy); other floats become float32.
    ``columns``: the width ``x`` must have.
    """
    if isinstance(x, (str, bytes)) or not hasattr(x, "__len__") and not hasattr(x, "__array__"):
        raise TypeError(f"{name} must be an array of floats (n x d), got {type(x).__name__}")
    x = np.asarray(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"{name} must hold floats (float32 or float64), got dtype {x.dtype}")
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows x columns), got {x.ndim} dimension(s) of shape {x.shape}")
    if len(x) != rows:
        fewer = "fewer" if len(x) < rows else "more"
        raise ValueError(
            f"{name} has {len(x):,} rows, {fewer} than the {rows:,} items that name them: one row per item"
        )
    if x.shape[1] == 0:
        raise ValueError(f"{name} has zero columns: shape {x.shape}")
    if columns is not None and x.shape[1] != columns:
        raise ValueError(f"{name} has {x.shape[1]} columns, {columns} expected")
    if x.dtype not in (np.float32, np.float64):
        x = x.astype(np.float32)
    for start in range(0, len(x), BLOCK):
        bad = ~np.isfinite(x[start : start + BLOCK]).all(axis=1)
        if bad.any():
            raise ValueError(f"{name} holds NaN or infinite values, first in row {start + int(np.argmax(bad))}")
    return x


def row_digests(x, dtype):
    """Each row's bytes hashed, as ``dtype``: equal exactly when the rows are (exact copies)."""
    out = []
    for start in range(0, len(x), BLOCK):
        block = np.ascontiguousarray(x[start : start + BLOCK], dtype=dtype)
        out.extend(hashlib.blake2b(row, digest_size=16).digest() for row in block)
    return out


def _photo_set(names, embeddings, logits, rows_name):
    embeddings = check_matrix(embeddings, rows_name, rows=len(names))
    if logits is not None:
        logits = check_matrix(logits, "logits", rows=len(names), columns=IMAGENET_CLASSES)
    return PhotoSet(names, names, None, embeddings, logits)


def given_context(names, y, embeddings, *, logits, test_names, test_embeddings, settings):
    """The :class:`AuditContext` of an audit of given embeddings, whose rows ``names`` and
    ``test_names`` (:func:`as_names`) name."""
    if (test_names is None) != (test_embeddings is None):
        raise ValueError(
            "with embeddings given, a test set is X_test (its names) and test_embeddings (its rows) together; "
            f"got {'X_test' if test_embeddings is None else 'test_embeddings'} alone"
        )
    photos = _photo_set(names, embeddings, logits, "embeddings")
    test = None
    if test_names is not None:
        test = _photo_set(test_names, test_embeddings, None, "test_embeddings")
        if test.embeddings.shape[1] != photos.embeddings.shape[1]:
            raise ValueError(
                f"test_embeddings has {test.embeddings.shape[1]} columns, but embeddings has "
                f"{photos.embeddings.shape[1]}: rows of different widths come from different models"
            )
    # Identical rows are exact copies; rows compare as the training set's dtype across the two sets.
    dtype = photos.embeddings.dtype
    for photo_set in (photos, test):
        if photo_set is not None:
            photo_set.digests = row_digests(photo_set.embeddings, dtype)
    return AuditContext(photos=photos, labels=y, test=test, settings=dict(settings))
