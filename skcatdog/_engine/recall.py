"""Remembered calls: a call on the same files as an earlier one, none changed
since, is answered with that call's output (one ``stat`` per file and one copy).

GridSearchCV transforms each fold once per candidate: those calls cost
nothing else.
"""

from __future__ import annotations

import numpy as np

from .._config import setting
from .._store import memory_tag

__all__ = ["CallMemory"]


class _CallKey:
    """The memory key of a call's output: its ``tag`` and every file's memo key, with
    the hash computed once (a tuple of thousands of tuples hashes them all each time)."""

    __slots__ = ("tag", "files", "_hash")

    def __init__(self, tag, files):
        self.tag, self.files, self._hash = tag, files, hash((tag, files))

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        if other.__class__ is not _CallKey or self._hash != other._hash:
            return False
        return self.tag == other.tag and self.files == other.files


class CallMemory:
    """Recall and remember one call's output.

    Parameters
    ----------
    request : Request
    store : CachedStore
    files : FileStats or None
        ``None`` (items that are not all paths) disables it.
    """

    def __init__(self, request, store, files):
        self.key = None
        self.files = files
        if files is None or request.columns is None or not store.capabilities.stores_rows:
            return
        # The tag holds the size cap: a remembered call is answered without checking its
        # files against the cap again.
        what = (
            f"call({'+'.join(request.views)}, mean={request.mean})"
            f"[{request.cols[0]}:{request.cols[1]}] max_file_bytes={setting('max_file_bytes')}"
        )
        tag = memory_tag(store.name, request.fingerprint, what)
        self.key = _CallKey(tag, files.keys)
        self.store = store

    def recall(self, out):
        """Fill ``out`` from a remembered output; returns whether it did."""
        if self.key is None:
            return False
        (kept,) = self.store.memory_get_many([self.key])
        if kept is None:
            return False  # the identify phase checks the files and names any bad ones
        # Every file has the stat it had in the remembered call, whose files were all
        # regular, non-empty and under the cap (in the tag) when it was computed.
        np.copyto(out, kept)
        return True

    def remember(self, out, from_memory):
        """Keep ``out`` for :meth:`recall`, if every row came from process memory and
        every file's digest from the memo (whose entries are files stat-ed when their
        content was no longer changing).

        A call that read the store or computed rows is this process's first look at them,
        as a new process's one call is: its output is not copied. A call on rows already
        held, as GridSearchCV's folds are, is. Outputs share the memory budget with rows;
        one over an eighth of it is not kept, so that a few large calls do not push out
        the rows every other call reads.
        """
        if self.key is None or not from_memory or out.nbytes > setting("memory_cache_bytes") // 8:
            return
        if None not in self.store.digests.get_many(self.files.keys):
            self.store.memory_put_many([(self.key, out.copy())])
