"""USearch's HNSW graph over the projected rows (float16), searched for each query's ``k``
nearest rows, of which those within the radius are proposed."""

from __future__ import annotations

import numpy as np

__all__ = ["UsearchHNSW", "available"]


def available():
    try:
        import usearch.index  # noqa: F401
    except ImportError:
        return False
    return True


class UsearchHNSW:
    """:class:`~skcatdog._neighbours.base.CandidateIndex` on ``usearch.index.Index`` (squared L2, float16)."""

    name = "usearch"

    def __init__(self, dim, n, *, n_probe, index=None):
        from usearch.index import Index

        # n_probe scales the search's breadth (USearch's expansion_search), as it does faiss's cells.
        self.index = index if index is not None else Index(ndim=dim, metric="l2sq", dtype="f16")
        self.index.expansion_search = 8 * n_probe
        self._next = len(self.index)

    @classmethod
    def from_bytes(cls, data, *, n_probe):
        from usearch.index import Index

        index = Index.restore(bytes(np.ascontiguousarray(data, dtype=np.uint8)))
        return cls(index.ndim, len(index), n_probe=n_probe, index=index)

    @staticmethod
    def sample_size(n):
        return 0  # a graph learns nothing before rows are added

    def train(self, sample):
        pass

    def add(self, rows):
        keys = np.arange(self._next, self._next + len(rows), dtype=np.uint64)
        self.index.add(keys, rows)
        self._next += len(rows)

    def candidates(self, queries, radius, k):
        found = self.index.search(queries, min(k, max(len(self.index), 1)))
        keys, dist = np.atleast_2d(found.keys), np.atleast_2d(found.distances)
        keep = (dist <= radius) & (np.arange(keys.shape[1]) < np.atleast_1d(found.counts)[:, None])
        return np.where(keep, keys.astype(np.int64), -1)

    def self_candidates(self, rows, radius, k, chunk):
        for start in range(0, len(rows), chunk):
            ids = np.arange(start, min(start + chunk, len(rows)))
            yield ids, self.candidates(rows[start : start + chunk], radius, k)

    def to_bytes(self):
        return np.frombuffer(self.index.save(), dtype=np.uint8)
