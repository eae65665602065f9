"""This process's memory in front of any backend: rows, file digests and
whole call outputs, bounded by ``memory_cache_bytes``.

The wrapper is what the engine holds (as fsspec wraps any file system in a
caching one): repeated ``transform`` calls inside one GridSearchCV cost
dictionary lookups, not SQLite reads or shard fetches.
"""

from __future__ import annotations

import collections
import threading

from .._config import setting

__all__ = ["CachedStore", "MemoryRows", "ProcessDigests", "clear", "digests", "rows"]


class MemoryRows:
    """A bounded least-recently-used map of arrays held in process memory."""

    def __init__(self):
        self._rows = collections.OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    def get_many(self, keys):
        """Values for ``keys`` (``None`` where absent); found ones become the most recent."""
        rows = self._rows
        with self._lock:
            out = [rows.get(k) for k in keys]
            touch = rows.move_to_end
            for k, row in zip(keys, out, strict=True):
                if row is not None:
                    touch(k)
        return out

    def put_many(self, pairs):
        limit = setting("memory_cache_bytes")
        with self._lock:
            for key, row in pairs:
                if key in self._rows or row.nbytes > limit:
                    continue
                self._rows[key] = row
                self._bytes += row.nbytes
            while self._bytes > limit and self._rows:
                _, old = self._rows.popitem(last=False)
                self._bytes -= old.nbytes

    def clear(self):
        with self._lock:
            self._rows.clear()
            self._bytes = 0


class ProcessDigests(dict):
    """``memo key -> digest`` learned in this process (trusted entries only),
    cleared when it would pass ``max_entries``."""

    def __init__(self, max_entries=1_000_000):
        super().__init__()
        self.max_entries = max_entries

    def remember(self, pairs):
        if len(self) + len(pairs) > self.max_entries:
            self.clear()
        self.update(pairs)


#: Rows (and call outputs) read or computed in this process.
rows = MemoryRows()

#: File digests learned in this process.
digests = ProcessDigests()


def clear():
    """Forget everything this process remembered (rows, outputs and digests)."""
    rows.clear()
    digests.clear()


class CachedStore:
    """A backend (see :class:`~skcatdog._store.spec.Store`) with process memory in front.

    Rows read are kept with the columns read; rows put are kept whole. A
    backend that keeps no rows (``cache=None``) keeps none in memory either.
    """

    def __init__(self, backend):
        self.backend = backend
        self.name = backend.name
        self.capabilities = backend.capabilities
        self.keeps_rows = backend.capabilities.keeps_rows
        self.digests = backend.digests

    def __repr__(self):
        return f"CachedStore({self.backend!r})"

    def lookup(self, keys, width, cols, remember=True):
        """``(rows, all from memory)``: the ``cols`` of each key's row, process memory
        first, then one batched backend query; ``None`` for misses."""
        if not self.keeps_rows:
            return [None] * len(keys), False
        name, (a, b) = self.name, cols
        wanted = [(name, k, a, b) for k in keys]
        found = rows.get_many(wanted)
        absent = [j for j, row in enumerate(found) if row is None]
        if absent and (a, b) != (0, width):  # rows computed in this process are held whole
            for j, row in zip(absent, rows.get_many([(name, keys[j], 0, width) for j in absent]), strict=True):
                if row is not None:
                    found[j] = row[a:b]
            absent = [j for j in absent if found[j] is None]
        if not absent:
            return found, True
        new = []
        for j, row in zip(absent, self.backend.get_many([keys[j] for j in absent], width, cols=cols), strict=True):
            if row is not None:
                found[j] = row
                new.append((wanted[j], row))
        if remember:
            rows.put_many(new)
        return found, False

    def get_many(self, keys, width, cols=None):
        """The backend's rows, past process memory (derived rows, which memory keeps by tag)."""
        return self.backend.get_many(keys, width, cols=cols)

    def put_many(self, pairs, width):
        """Store whole rows in the backend and keep a copy of each in memory."""
        if not self.keeps_rows:
            return
        pairs = list(pairs)
        self.backend.put_many(pairs)
        rows.put_many([((self.name, k, 0, width), row.copy()) for k, row in pairs])

    def put_derived(self, pairs):
        """Store derived rows (already kept in memory by their caller) in the backend."""
        self.backend.put_many(pairs)

    def flush(self):
        self.backend.flush()

    @staticmethod
    def recall(keys):
        """Values this process keeps under ``keys`` (outputs, means), ``None`` where absent."""
        return rows.get_many(keys)

    def keep(self, pairs):
        """Keep ``(key, array)`` pairs in process memory (not in the backend)."""
        if self.keeps_rows:
            rows.put_many(pairs)
