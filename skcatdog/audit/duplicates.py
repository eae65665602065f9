"""Copies of a photo: exact (the same bytes) and near (embeddings a small cosine distance apart), as sets.

No n x n matrix is ever held: neighbours are found by radius queries in
chunks (scikit-learn's ``NearestNeighbors``), on the embeddings projected to
a few dimensions when there are many, with every candidate pair checked
against the full embeddings before it counts.
"""

from __future__ import annotations

import numpy as np

__all__ = ["exact_sets", "near_pairs", "near_sets", "normalized"]

#: Above this many embeddings, candidates come from a projection to :data:`PROJECTED_DIMS` dimensions.
PROJECT_ABOVE = 20_000
PROJECTED_DIMS = 96
QUERY_CHUNK = 4096


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


def _candidates(base, queries, radius):
    """``(query index, base index)`` pairs within ``radius`` (Euclidean), by chunks of queries."""
    from sklearn.neighbors import NearestNeighbors

    index = NearestNeighbors(radius=radius, algorithm="brute").fit(base)
    for start in range(0, len(queries), QUERY_CHUNK):
        found = index.radius_neighbors(queries[start : start + QUERY_CHUNK], return_distance=False)
        for k, rows in enumerate(found):
            for j in rows:
                yield start + k, int(j)


def near_pairs(emb, other=None, *, max_distance=0.1, random_state=0):
    """Pairs ``(i, j, cosine distance)`` of rows of ``emb`` (or of ``emb`` and ``other``) at most
    ``max_distance`` apart; within ``emb`` alone, each pair once with ``i < j``."""
    a = normalized(emb)
    b = a if other is None else normalized(other)
    radius = float(np.sqrt(2 * max_distance))
    qa, qb = a, b
    if len(a) + (0 if other is None else len(b)) > PROJECT_ABOVE and a.shape[1] > PROJECTED_DIMS:
        from sklearn.decomposition import PCA

        pca = PCA(PROJECTED_DIMS, svd_solver="randomized", random_state=random_state).fit(a[:50_000])
        qa, qb = pca.transform(a), pca.transform(b)
        # A projection only shortens distances: the same radius finds every true pair.
    pairs = []
    for k, i in _candidates(qa, qb, radius):  # k: a row of b (the query), i: a row of a
        if other is None and k <= i:
            continue
        d = 1.0 - float(a[i] @ b[k])
        if d <= max_distance:
            pairs.append((i, k, d))
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
