"""What every search shares: input checks, the exact blocked product, the projection candidates
are searched in, and the exact re-check of candidate pairs on the full rows.

Cosine distance is ``1 - u.v`` for unit rows ``u, v``, which is half their squared Euclidean
distance. Rows are never normalized as a whole copy: each block is divided by its rows' norms
when it is used, so the process holds the caller's matrix, its norms and small blocks.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Protocol, runtime_checkable

import numpy as np
import scipy.linalg

__all__ = [
    "BLOCK",
    "PAIR_BLOCK",
    "CandidateIndex",
    "Projection",
    "check_embeddings",
    "concat",
    "exact_pairs",
    "inner_products",
    "norms",
    "refine",
    "unit_block",
]

#: Rows multiplied, normalized or projected at once (a ``BLOCK x BLOCK`` tile of similarities is 64 MiB).
BLOCK = 4096
#: Candidate pairs re-checked at once: two gathered rows each, so about 80 MiB at 1,280 columns.
PAIR_BLOCK = 8192


@runtime_checkable
class CandidateIndex(Protocol):
    """A library's index over projected rows that proposes pairs; the exact re-check decides them.

    It may miss pairs (recall is its only approximation) and may propose pairs further apart
    than asked: :func:`refine` drops those.
    """

    #: The library's name, as ``backend=`` spells it.
    name: str

    def __init__(self, dim: int, n: int, *, n_probe: int, index=None) -> None:
        """An empty index for ``n`` rows of ``dim`` columns (or one wrapping a library ``index``)."""

    @classmethod
    def from_bytes(cls, data: np.ndarray, *, n_probe: int) -> CandidateIndex:
        """The index :meth:`to_bytes` wrote."""

    @staticmethod
    def sample_size(n: int) -> int:
        """Rows :meth:`train` needs for an index of ``n`` rows (0: it learns nothing)."""

    def train(self, sample: np.ndarray) -> None:
        """Learn what the index needs (cells, graph settings) from projected sample rows."""

    def add(self, rows: np.ndarray) -> None:
        """Append projected rows; their ids continue from the rows already added."""

    def candidates(self, queries: np.ndarray, radius: float, k: int) -> np.ndarray:
        """An ``(m, k')`` int64 array of indexed rows, ``k' <= k``: for each query, its nearest
        indexed rows whose projections are at most ``radius`` apart in squared Euclidean
        distance, ``-1`` where there are fewer."""

    def self_candidates(
        self, rows: np.ndarray, radius: float, k: int, chunk: int
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """:meth:`candidates` of the indexed rows themselves (``rows``: all of them, projected, in
        the order added), ``chunk`` queries at a time, in the order the index searches fastest:
        ``(ids, candidates)`` blocks, ``ids`` naming the rows each block queried."""

    def to_bytes(self) -> np.ndarray:
        """The index as a uint8 array, for a saved :class:`~skcatdog.neighbours.NeighbourIndex`."""


def check_embeddings(x, name="embeddings", *, width=None):
    """``x`` as a 2-D float32 array, or a ``ValueError`` naming what is wrong with it.

    Float input of another precision is converted once; NaN and infinite values are looked
    for a block at a time, and the first row holding one is named.
    """
    x = np.asarray(x)
    if x.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (rows x columns), got {x.ndim} dimension(s) of shape {x.shape}")
    if x.shape[1] == 0:
        raise ValueError(f"{name} has zero columns: shape {x.shape}")
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{name} must hold floats (float32 or float64), got dtype {x.dtype}")
    if width is not None and x.shape[1] != width:
        raise ValueError(f"{name} has {x.shape[1]} columns, but the rows it is compared with have {width}")
    x = np.asarray(x, dtype=np.float32)
    for start in range(0, len(x), BLOCK):
        bad = ~np.isfinite(x[start : start + BLOCK]).all(axis=1)
        if bad.any():
            row = start + int(np.argmax(bad))
            raise ValueError(f"{name} holds NaN or infinite values, first in row {row}")
    return x


def norms(x):
    """Each row's Euclidean length, zero lengths raised to a tiny one (a zero row is far from all)."""
    out = np.empty(len(x), dtype=np.float32)
    for start in range(0, len(x), BLOCK):
        out[start : start + BLOCK] = np.linalg.norm(x[start : start + BLOCK], axis=1)
    return np.maximum(out, np.float32(1e-12), out=out)


def unit_block(x, lengths, start, stop):
    """Rows ``start:stop`` of ``x`` scaled to unit length (a new block; ``x`` is not touched)."""
    return x[start:stop] / lengths[start:stop, None]


def exact_pairs(a, a_norms, b, b_norms, *, max_distance, same, chunk=BLOCK, blocks=None):
    """Every pair at most ``max_distance`` apart, by the blocked product of unit rows.

    ``same``: ``b`` is ``a`` and each pair comes once with ``i < j``. Tiles are ``chunk x chunk``,
    so memory does not grow with the number of rows. ``blocks(n)`` yields the ``(start, stop)``
    of each block of ``a``'s ``n`` rows (``chunk`` rows each; a caller's may show progress).
    Returns ``(i, j, distance)`` arrays.
    """
    limit = np.float32(1.0 - max_distance)
    found = []
    if blocks is None:
        blocks = lambda n: ((start, min(start + chunk, n)) for start in range(0, n, chunk))  # noqa: E731
    for start, stop in blocks(len(a)):
        rows = unit_block(a, a_norms, start, stop)
        for first in range(start if same else 0, len(b), chunk):
            last = min(first + chunk, len(b))
            sim = rows @ unit_block(b, b_norms, first, last).T
            if same and first == start:  # the diagonal tile: each pair once, never a row with itself
                sim[np.tril_indices(stop - start, 0, last - first)] = -2.0
            i, j = np.nonzero(sim >= limit)
            found.append((i + start, j + first, np.clip(1.0 - sim[i, j], 0.0, None)))
    return concat(found)


def refine(rows, b, b_norms, candidates, *, max_distance):
    """Candidate pairs of unit ``rows`` and rows of ``b`` re-checked on the full rows.

    ``candidates`` is an ``(m, k)`` int64 array of rows of ``b`` for each of the ``m`` rows
    (``-1``: none). Returns the pairs at most ``max_distance`` apart, with their exact cosine
    distance, as ``(row, row of b, distance)`` arrays.
    """
    valid = candidates >= 0
    safe = np.where(valid, candidates, 0)
    dist = 1.0 - inner_products(rows, b, safe) / b_norms[safe]
    i, c = np.nonzero(valid & (dist <= max_distance))
    return i.astype(np.int64), candidates[i, c], np.clip(dist[i, c], 0.0, None).astype(np.float32)


def inner_products(rows, b, ids):
    """``out[i, c] = rows[i] . b[ids[i, c]]`` (float32), without gathering copies of ``b``'s rows.

    faiss computes them in its threads when it is installed (and ``b`` is one contiguous float32
    block); otherwise numpy gathers :data:`PAIR_BLOCK` pairs at a time.
    """
    rows = np.ascontiguousarray(rows, dtype=np.float32)
    ids = np.ascontiguousarray(ids, dtype=np.int64)
    out = np.empty(ids.shape, np.float32)
    if ids.size == 0:
        return out
    try:
        import faiss
    except ImportError:
        faiss = None
    if faiss is not None and b.dtype == np.float32 and b.flags.c_contiguous:
        ptr = faiss.swig_ptr
        faiss.fvec_inner_products_by_idx(ptr(out), ptr(rows), ptr(b), ptr(ids), b.shape[1], *ids.shape)
        return out
    flat_i = np.repeat(np.arange(len(ids)), ids.shape[1])
    flat_j, flat = ids.ravel(), out.ravel()
    for start in range(0, len(flat_j), PAIR_BLOCK):
        ii, jj = flat_i[start : start + PAIR_BLOCK], flat_j[start : start + PAIR_BLOCK]
        flat[start : start + PAIR_BLOCK] = np.einsum("ij,ij->i", rows[ii], b[jj])
    return out


def concat(parts):
    """``(i, j, distance)`` arrays from a list of such triples."""
    if not parts:
        return np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0, np.float32)
    i, j, d = (np.concatenate(p) for p in zip(*parts, strict=True))
    return i.astype(np.int64), j.astype(np.int64), d.astype(np.float32)


class Projection:
    """PCA of unit rows to ``n_components`` columns, fitted on a sample.

    An orthogonal projection never lengthens a difference, so two rows' projections are at
    most as far apart as the rows: a search in the projected space with the full-space radius
    loses no pair to the projection (only to the index), and the exact re-check removes the
    extra pairs it lets in.
    """

    def __init__(self, mean, components):
        self.mean = np.asarray(mean, np.float32)
        self.components = np.asarray(components, np.float32)  # columns x n_components

    @classmethod
    def fit(cls, sample, n_components):
        mean = sample.mean(axis=0, dtype=np.float64)
        centred = sample - mean.astype(np.float32)
        cov = centred.T @ centred  # columns x columns: 6.5 MB at 1,280 columns
        d = sample.shape[1]
        k = min(n_components, d)
        # Only the k largest: a full decomposition takes several times as long.
        _, vectors = scipy.linalg.eigh(cov.astype(np.float64), subset_by_index=[d - k, d - 1])
        return cls(mean, vectors[:, ::-1])

    @property
    def n_components(self):
        return self.components.shape[1]

    def __call__(self, unit_rows):
        return np.ascontiguousarray((unit_rows - self.mean) @ self.components, dtype=np.float32)
