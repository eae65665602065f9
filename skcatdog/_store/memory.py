"""This process's memory in front of any backend: rows, file digests, measures
and whole call outputs, bounded by ``memory_cache_bytes``.

The wrapper is what the engine holds (as fsspec wraps any file system in a
caching one): repeated ``transform`` calls inside one GridSearchCV cost
dictionary lookups, not SQLite reads or shard fetches.
"""

from __future__ import annotations

import collections
import threading

import numpy as np

from .._config import setting
from .spec import StoreBase

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


class _DigestsInMemory:
    """The file-digest memo of a :class:`CachedStore`: this process's memo, then the backend's."""

    def __init__(self, backend_memo):
        self._backend = backend_memo

    def get_many(self, files):
        get = digests.get
        found = [get(f) for f in files]
        if None not in found:  # the repeated warm call: this process knows every file
            return found
        unknown = [j for j, d in enumerate(found) if d is None]
        learned = []
        for j, digest in zip(unknown, self._backend.get_many([files[j] for j in unknown]), strict=True):
            if digest is not None:
                found[j] = digest
                learned.append((files[j], digest))
        digests.remember(learned)
        return found

    def put_many(self, pairs):
        pairs = list(pairs)
        if pairs:
            digests.remember(pairs)
            self._backend.put_many(pairs)


class _MeasuresInMemory:
    """The measures table of a :class:`CachedStore`: process memory, then the backend's table."""

    def __init__(self, store):
        self._store = store

    def get_many(self, keys, width):
        store = self._store
        if not store.capabilities.stores_rows:
            return [None] * len(keys)
        wanted = [(store.name, "measures", k, width) for k in keys]
        found = rows.get_many(wanted)
        absent = [j for j, row in enumerate(found) if row is None]
        if absent:
            new = []
            for j, row in zip(absent, store.backend.measures.get_many([keys[j] for j in absent], width), strict=True):
                if row is not None:
                    found[j] = row
                    new.append((wanted[j], row))
            rows.put_many(new)
        return found

    def put_many(self, pairs):
        store = self._store
        if not store.capabilities.stores_rows:
            return
        pairs = [(k, np.ascontiguousarray(row, dtype=np.float32)) for k, row in pairs]
        store.backend.measures.put_many(pairs)
        rows.put_many([((store.name, "measures", k, row.shape[-1]), row) for k, row in pairs])


class CachedStore(StoreBase):
    """A backend (see :class:`~skcatdog._store.spec.Store`) with process memory in front:
    itself a store, with the same methods.

    Rows read are kept with the columns read; rows put are kept whole. A
    backend that keeps no rows (``cache=None``) keeps none in memory either;
    file digests are remembered in any case (they describe files, not rows).

    Parameters
    ----------
    backend : Store
    """

    def __init__(self, backend):
        self.backend = backend
        self.name = backend.name
        self.capabilities = backend.capabilities
        self.digests = _DigestsInMemory(backend.digests)
        self.measures = _MeasuresInMemory(self)

    def __repr__(self):
        return f"CachedStore({self.backend!r})"

    def lookup(self, keys, width, cols=None, remember=True):
        """``(rows, all from memory)``: the ``cols`` of each key's row, process memory
        first, then one batched backend query; ``None`` for misses."""
        if not self.capabilities.stores_rows:
            return [None] * len(keys), False
        name, (a, b) = self.name, (0, width) if cols is None else cols
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
        """Rows for ``keys``: process memory first, then the backend (see :meth:`lookup`)."""
        return self.lookup(keys, width, cols)[0]

    def contains_many(self, keys, width):
        """Whether each key has a row: rows held whole in process memory, then the backend's
        answer for the others (no row is read into memory)."""
        if not self.capabilities.stores_rows:
            return [False] * len(keys)
        name = self.name
        found = [row is not None for row in rows.get_many([(name, k, 0, width) for k in keys])]
        absent = [j for j, hit in enumerate(found) if not hit]
        if absent:
            for j, hit in zip(absent, self.backend.contains_many([keys[j] for j in absent], width), strict=True):
                found[j] = bool(hit)
        return found

    def put_many(self, pairs):
        """Store whole rows in the backend and keep a copy of each in memory."""
        if not self.capabilities.stores_rows:
            return
        pairs = list(pairs)
        self.backend.put_many(pairs)
        name = self.name
        rows.put_many([((name, k, 0, row.shape[-1]), row.copy()) for k, row in pairs])

    def get_many_by_file(self, files, prefix, width):
        """Files this process knows: their digests, without reading rows; the others
        from the backend in one pass (their digests are then remembered)."""
        get = digests.get
        found = [get(f) for f in files]
        rows = [None] * len(found)
        if None not in found:  # the repeated warm call
            return found, rows
        unknown = [j for j, d in enumerate(found) if d is None]
        learned = []
        got, got_rows = self.backend.get_many_by_file([files[j] for j in unknown], prefix, width)
        for j, digest, row in zip(unknown, got, got_rows, strict=True):
            found[j], rows[j] = digest, row
            if digest is not None:
                learned.append((files[j], digest))
        digests.remember(learned)
        return found, rows

    def flush(self):
        self.backend.flush()

    def memory_get_many(self, keys):
        """Values this process holds under ``keys`` (outputs, means), ``None`` where absent."""
        return rows.get_many(keys)

    def memory_put_many(self, pairs):
        """Hold ``(key, array)`` pairs in process memory (not in the backend)."""
        if self.capabilities.stores_rows:
            rows.put_many(pairs)
