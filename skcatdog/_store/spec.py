"""What a store is: the interface every backend implements, written down once.

The engine talks to a store only through these methods and the
capabilities a backend declares; it never asks which backend it has
(fsspec's ``AbstractFileSystem`` and scikit-learn's ``check_memory`` work the
same way).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Capabilities", "DigestMemo", "Store"]


@dataclass(frozen=True)
class Capabilities:
    """What a backend can do, declared by the backend.

    Attributes
    ----------
    keeps_rows : bool
        Rows put are found again (``False`` only for the store of ``cache=None``).
    local : bool
        Lookups are cheap local reads that hold the GIL: threads would only
        contend for it, so the engine probes such a store from one thread.
    derived_rows : bool
        The store may also keep rows derived from others (a photo's mean of
        its views), so a new process reads one row per photo instead of one
        per view.
    joined_lookup : bool
        The backend has ``get_many_by_file``: a file's digest and one row in
        one query.
    """

    keeps_rows: bool = True
    local: bool = True
    derived_rows: bool = False
    joined_lookup: bool = False


@runtime_checkable
class DigestMemo(Protocol):
    """Content digests remembered by :func:`~skcatdog._store.keys.stat_key`."""

    def get_many(self, keys):
        """Digests for ``keys``, ``None`` where unknown."""

    def put_many(self, pairs):
        """Remember ``(stat key, digest)`` pairs."""


@runtime_checkable
class Store(Protocol):
    """Rows of float32 values by key.

    Attributes
    ----------
    name : str or None
        Identifies the store within a process (a directory or a URL): the
        namespace of its rows in process memory.
    capabilities : Capabilities
    digests : DigestMemo or None
        The backend's file-digest memo, where it has one.
    """

    name: str | None
    capabilities: Capabilities
    digests: DigestMemo | None

    def get_many(self, keys, width, cols=None):
        """Rows for ``keys`` (``None`` where absent or not ``width`` floats long);
        ``cols=(start, stop)`` returns only those floats of each row."""

    def put_many(self, pairs):
        """Store ``(key, float32 row)`` pairs."""

    def flush(self):
        """Make every row put so far visible to other processes."""
