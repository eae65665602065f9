"""faiss's inverted-file index (``IndexIVFFlat``) over the projected rows.

The rows are split into about ``2 * sqrt(n)`` cells by k-means on a sample; a query scans
the ``n_probe`` cells whose centres are nearest to it and proposes its ``k`` nearest rows there
that are within the radius.

Within one set, each row's ``n_probe`` nearest centres are found once, when it is added (the
nearest decides its cell), and reused when it is searched; the rows are then searched cell by
cell, so that consecutive queries scan the same cells while they are still in the CPU's cache
(in the rows' own order they scan a different part of the index each time, and the search is
bound by memory reads).
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
        self._probes = []  # each added block's nearest centres, until the self-search uses them

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
        _, probes = self.index.quantizer.search(rows, self.index.nprobe)
        cells = np.ascontiguousarray(probes[:, 0])
        self.index.add_core(len(rows), self._faiss.swig_ptr(rows), None, self._faiss.swig_ptr(cells))
        self._probes.append(probes.astype(np.int32))

    def candidates(self, queries, radius, k):
        dist, ids = self.index.search(queries, min(k, self.index.ntotal))
        return _within(dist, ids, radius)

    def self_candidates(self, rows, radius, k, chunk):
        probes = np.concatenate(self._probes) if self._probes else np.empty((0, self.index.nprobe), np.int32)
        self._probes = []
        if len(probes) != len(rows):  # rows added before this instance (a loaded index): no centres kept
            probes = self.index.quantizer.search(rows, self.index.nprobe)[1]
        order = np.argsort(probes[:, 0], kind="stable")
        k = min(k, self.index.ntotal)
        for start in range(0, len(rows), chunk):
            ids = order[start : start + chunk]
            dist, found = self.index.search_preassigned(rows[ids], k, probes[ids], None)
            yield ids, _within(dist, found, radius)

    def to_bytes(self):
        return self._faiss.serialize_index(self.index)


def _within(dist, ids, radius):
    return np.where(dist <= radius, ids, -1).astype(np.int64, copy=False)
