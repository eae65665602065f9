"""Copies of a photo: exact (the same bytes) and near (embeddings a small cosine distance apart), as sets.

No n x n matrix is ever held: similarities are computed a block of rows at a
time and only the pairs close enough are kept.
"""

from __future__ import annotations

import numpy as np

__all__ = ["exact_sets", "near_pairs", "near_sets", "normalized"]

#: Rows multiplied at once: bounds the memory of one step to this many rows of similarities.
CHUNK = 1024


def normalized(embeddings):
    """Rows scaled to unit length (cosine distance is then half the squared Euclidean one)."""
    x = np.asarray(embeddings, dtype=np.float32)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, 1e-12)


def exact_sets(digests):
    """Sets of two or more indices holding the same content digest, in first-seen order."""
    by_digest = {}
    for i, d in enumerate(digests):
        if d is not None:
            by_digest.setdefault(d, []).append(i)
    return [rows for rows in by_digest.values() if len(rows) > 1]


def near_pairs(emb, other=None, *, max_distance=0.1, chunk=CHUNK):
    """Pairs ``(i, j, cosine distance)`` of rows of ``emb`` (or of ``emb`` and ``other``) at most
    ``max_distance`` apart; within ``emb`` alone, each pair once with ``i < j``.

    Exact: unit rows are multiplied ``chunk`` at a time against the others (within
    ``emb``, only those after them: half the work), so memory stays at ``chunk x n``
    floats whatever ``n``; the products run on the BLAS's threads.
    """
    a = normalized(emb)
    b = a if other is None else normalized(other)
    limit = np.float32(1.0 - max_distance)  # cosine similarity at least this
    pairs = []
    for start in range(0, len(a), chunk):
        stop = min(start + chunk, len(a))
        first = start if other is None else 0
        sim = a[start:stop] @ b[first:].T
        if other is None:
            sim[np.tril_indices(stop - start, 0, sim.shape[1])] = -2.0  # each pair once, never a row with itself
        rows, cols = np.nonzero(sim >= limit)
        dist = np.clip(1.0 - sim[rows, cols], 0.0, None)
        pairs += zip((rows + start).tolist(), (cols + first).tolist(), dist.tolist(), strict=True)
    return pairs


def near_sets(n, pairs):
    """Connected components (two or more rows) of the graph of ``pairs``, each sorted."""
    parent = list(range(n))

    def root(x):
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, _ in pairs:
        ri, rj = root(i), root(j)
        if ri != rj:
            parent[max(ri, rj)] = min(ri, rj)
    groups = {}
    for i in range(n):
        groups.setdefault(root(i), []).append(i)
    return [rows for rows in groups.values() if len(rows) > 1]
