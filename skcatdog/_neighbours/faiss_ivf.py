"""faiss's inverted-file index (``IndexIVFFlat``) over the projected rows.

The rows are split into about ``2 * sqrt(n)`` cells by k-means on a sample; a query scans
the ``n_probe`` cells whose centres are nearest to it and proposes its ``k`` nearest rows there
that are within the radius.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["FaissIVF", "available"]

#: k-means rounds for the cells: the cells only need to keep near rows together, not be optimal.
KMEANS_ROUNDS = 10


def available():
    try:
        import faiss  # noqa: F401
    except ImportError:
        return False
    return True


def cells_for(n):
    """The number of cells for ``n`` indexed rows."""
    return max(1, min(int(2 * math.sqrt(n)), n // 39 or 1))


class FaissIVF:
    """:class:`~skcatdog._neighbours.base.CandidateIndex` on ``faiss.IndexIVFFlat`` (squared L2)."""

    name = "faiss"

    def __init__(self, dim, n, *, n_probe, index=None):
        import faiss

        self._faiss = faiss
        if index is None:
            quantizer = faiss.IndexFlatL2(dim)
            index = faiss.IndexIVFFlat(quantizer, dim, cells_for(n), faiss.METRIC_L2)
            index.cp.niter = KMEANS_ROUNDS
        index.nprobe = min(n_probe, index.nlist)
        self.index = index

    @classmethod
    def from_bytes(cls, data, *, n_probe):
        import faiss

        index = faiss.deserialize_index(np.ascontiguousarray(data, dtype=np.uint8))
        return cls(index.d, index.ntotal, n_probe=n_probe, index=index)

    @staticmethod
    def sample_size(n):
        """Rows the cells are learned from: 64 per cell at most (faiss's advice is 39 to 256)."""
        return min(n, 64 * cells_for(n))

    def train(self, sample):
        self.index.train(sample)

    def add(self, rows):
        self.index.add(rows)

    def candidates(self, queries, radius, k):
        dist, ids = self.index.search(queries, min(k, self.index.ntotal))
        rows, cols = np.nonzero((dist <= radius) & (ids >= 0))
        return rows.astype(np.int64), ids[rows, cols].astype(np.int64)

    def to_bytes(self):
        return self._faiss.serialize_index(self.index)
