"""What a store is: the interface every backend implements, written down once.

The engine talks to a store only through :class:`Store`; it never asks which
backend it has. :class:`StoreBase` gives every method but the row reads and
writes a default, which a backend overrides where it can do better (as
fsspec's ``AbstractFileSystem`` does): the local backend answers
:meth:`Store.get_many_by_file` with one joined query, the default with two.

A store keeps three namespaces apart:

* rows: a model's output for one view of one content (:meth:`Store.get_many`);
* file digests: which content a file held at a given stat (:attr:`Store.digests`);
* measures: other values computed from a content, such as an audit's image
  measures (:attr:`Store.measures`).

Their keys are made in :mod:`skcatdog._store.keys` and nowhere else.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = [
    "Capabilities",
    "DigestMemo",
    "MeasureTable",
    "NoDigests",
    "NoMeasures",
    "Store",
    "StoreBase",
]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, declared by the backend.

    Attributes
    ----------
    stores_rows : bool
        Rows put are found again (``False`` only for the store of ``cache=None``).
    local : bool
        Lookups are cheap local reads that hold the GIL: threads would only
        contend for it, so the engine probes such a store from one thread.
    derived_rows : bool
        The store may also keep rows derived from others (a photo's mean of
        its views), so a new process reads one row per photo instead of one
        per view.
    """

    stores_rows: bool = True
    local: bool = True
    derived_rows: bool = False


@runtime_checkable
class DigestMemo(Protocol):
    """Content digests by :func:`~skcatdog._store.keys.file_key`.

    Only digests :func:`~skcatdog._store.keys.digest_trusted` allows are put.
    """

    def get_many(self, files):
        """Digests for ``files`` (file keys), ``None`` where unknown."""

    def put_many(self, pairs):
        """Remember ``(file key, digest)`` pairs."""


@runtime_checkable
class MeasureTable(Protocol):
    """Rows of float32 values by :func:`~skcatdog._store.keys.measure_key`, apart from the model rows."""

    def get_many(self, keys, width):
        """Rows for ``keys``, ``None`` where absent or not ``width`` floats long."""

    def put_many(self, pairs):
        """Store ``(key, float32 row)`` pairs."""


@runtime_checkable
class Store(Protocol):
    """Rows of float32 values by key, with a file-digest memo and a measures table.

    Attributes
    ----------
    name : str or None
        Identifies the store within a process (a directory or a URL): the
        namespace of its rows in process memory.
    capabilities : Capabilities
    digests : DigestMemo
    measures : MeasureTable
    """

    name: str | None
    capabilities: Capabilities
    digests: DigestMemo
    measures: MeasureTable

    def get_many(self, keys, width, cols=None):
        """Rows for ``keys`` (``None`` where absent or not ``width`` floats long);
        ``cols=(start, stop)`` returns only those floats of each row."""

    def contains_many(self, keys, width):
        """Whether the store holds a row for each key (a list of bool), reading no row where
        the backend can tell without it; a row of another length than ``width`` floats is
        absent where the backend reads it."""

    def put_many(self, pairs):
        """Store ``(key, float32 row)`` pairs; each row's length is its width."""

    def flush(self):
        """Make every row put so far visible to other processes."""

    def get_many_by_file(self, files, prefix, width):
        """``(digests, rows)``, two lists aligned with ``files`` (file keys): each file's
        memoised digest and the row stored under ``prefix + digest``, read in the same pass.

        A digest is ``None`` for a file the memo does not know. A row is ``None``
        where the store has no such row, or where it did not read it in this
        pass (process memory answers digests without reading rows): a caller
        looks such rows up with :meth:`get_many`.
        """

    def lookup(self, keys, width, cols=None, remember=True):
        """``(rows, from_memory)``: :meth:`get_many`, and whether every row came from
        this process's memory. ``remember=False`` leaves rows read out of memory."""

    def memory_get_many(self, keys):
        """Values this process holds in memory under ``keys`` (means, whole outputs),
        ``None`` where absent; nothing is read from the backend."""

    def memory_put_many(self, pairs):
        """Hold ``(key, array)`` pairs in this process's memory (not in the backend)."""


class NoDigests:
    """The :class:`DigestMemo` of a store that keeps no digests: finds nothing, keeps nothing."""

    def get_many(self, files):
        return [None] * len(files)

    def put_many(self, pairs):
        pass


class NoMeasures:
    """The :class:`MeasureTable` of a store that keeps nothing."""

    def get_many(self, keys, width):
        return [None] * len(keys)

    def put_many(self, pairs):
        pass


class StoreBase:
    """Defaults for every :class:`Store` method a backend need not write itself.

    A backend implements :meth:`get_many` and :meth:`put_many`, sets ``name``
    and ``capabilities``, and sets ``digests`` and ``measures`` where it keeps
    them. It holds nothing in process memory (the engine's store is a
    :class:`~skcatdog._store.memory.CachedStore`, which does).
    """

    name = None
    capabilities = Capabilities()
    digests = NoDigests()
    measures = NoMeasures()

    def get_many(self, keys, width, cols=None):
        raise NotImplementedError

    def put_many(self, pairs):
        raise NotImplementedError

    def contains_many(self, keys, width):
        """The rows' presence through :meth:`get_many` (a backend that can tell without
        reading the rows overrides it)."""
        return [row is not None for row in self.get_many(keys, width)]

    def flush(self):
        pass

    def get_many_by_file(self, files, prefix, width):
        """The digest memo, then one :meth:`get_many` for the files it knows."""
        digests = self.digests.get_many(files)
        known = [d for d in digests if d is not None]
        rows = iter(self.get_many([prefix + d for d in known], width) if known else ())
        return digests, [None if d is None else next(rows) for d in digests]

    def lookup(self, keys, width, cols=None, remember=True):
        return self.get_many(keys, width, cols), False

    def memory_get_many(self, keys):
        return [None] * len(keys)

    def memory_put_many(self, pairs):
        pass
