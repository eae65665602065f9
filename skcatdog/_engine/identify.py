"""Phase 1 of a call: which content each item holds (its digest), at the least cost.

A file's digest comes from the store's digest memo (one ``stat``, and a
dictionary lookup in process memory or one query per chunk), else from
reading and hashing the file. Arrays are hashed; crops combine the file's digest and the box.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from stat import S_ISREG

from .. import _images
from .._config import setting
from .._images import BadImage, ImageCrop
from .._store import digest_trusted, file_key, file_keys
from .stats import stats

__all__ = ["FileStats", "Identifier", "stat_files"]


@dataclass(frozen=True)
class FileStats:
    """Every file's ``stat``, taken once for the call, and its file key."""

    stat_results: list
    started: float  # wall time before the first stat (see digest_trusted)
    keys: tuple  # file keys (see skcatdog._store.file_key)


def stat_files(items):
    """:class:`FileStats` of a call whose items are all paths (``str``), else ``None``.

    ``None`` too if a file cannot be stat-ed: :meth:`Identifier.identify` then
    names it, item by item.
    """
    if not all(issubclass(t, str) for t in set(map(type, items))):  # by type: a warm call checks thousands
        return None
    started = time.time()  # before any stat
    stat = os.stat
    try:
        sts = [stat(p) for p in items]
    except OSError:
        return None
    return FileStats(sts, started, tuple(file_keys(items, sts)))


def _all_usable(sts, cap):
    """Whether all are regular files under ``cap`` bytes and not empty: the bulk form of
    :func:`skcatdog._images.file_stat`'s check (checked memoised or not: a cap lowered
    since a file was read refuses it in this process as in a new one)."""
    return all(S_ISREG(st.st_mode) and 0 < st.st_size <= cap for st in sts)


class Identifier:
    """Digests for chunks of one call's items.

    Parameters
    ----------
    items : list
    store : CachedStore
    files : FileStats or None
    lookup_digests : callable, optional
        ``file keys -> digests`` from the store's memo; a caller that can
        fetch more in the same query (the mean of the views) passes its own.
    """

    def __init__(self, items, store, files=None, lookup_digests=None):
        self.items = items
        self.store = store
        self.files = files
        self.lookup_digests = lookup_digests or store.digests.get_many
        self.did_io = False  # whether a file was read (threads help from then on)

    def identify(self, chunk):
        """``({i: digest}, {i: source}, {i: reason})`` for the rows in ``chunk``: a file's
        digest comes from a memo where it can (no source is made: the hot path), else
        from reading the file (which gives its source)."""
        stats.add(items_identified=len(chunk))
        cap = setting("max_file_bytes")
        started = time.time()  # before any stat: see digest_trusted
        digests, sources, reasons = {}, {}, {}
        unknown = {}  # file key -> rows
        stats_of = {}
        if self.files is not None:  # every file was stat-ed; a chunk with a bad one goes item by item
            started, sts = self.files.started, self.files.stat_results[chunk.start : chunk.stop]
            if _all_usable(sts, cap):
                fkeys = self.files.keys[chunk.start : chunk.stop]
                found = self.lookup_digests(fkeys)
                if None not in found:  # the warm call: the memo knows every file
                    return dict(zip(chunk, found, strict=True)), sources, reasons
                for i, fkey, st, digest in zip(chunk, fkeys, sts, found, strict=True):
                    if digest is None:
                        unknown.setdefault(fkey, []).append(i)
                        stats_of[fkey] = st
                    else:
                        digests[i] = digest
                chunk = ()  # identified
        if chunk:
            self._identify_items(chunk, digests, sources, reasons, unknown, stats_of)
        if unknown:
            self._read_unknown(unknown, stats_of, started, digests, sources, reasons)
        return digests, sources, reasons

    def _identify_items(self, chunk, digests, sources, reasons, unknown, stats_of):
        """Item by item (crops, arrays, a chunk with a bad file): digests from the memo where
        it knows the file; the files it does not know are added to ``unknown``."""
        items, crop_digest = self.items, _images.crop_digest
        files = {}  # file key -> rows
        for i in chunk:
            item = items[i]
            if isinstance(item, str):
                path = item
            elif isinstance(item, ImageCrop):
                path = item.path
            elif isinstance(item, os.PathLike):
                path = os.fspath(item)
            else:
                try:
                    sources[i] = src = _images.read_source(item)
                    digests[i] = src.digest
                except BadImage as exc:
                    reasons[i] = str(exc)
                continue
            try:
                st = _images.file_stat(path)  # raises with the reason
            except BadImage as exc:
                reasons[i] = str(exc)
                continue
            fkey = file_key(path, st)
            files.setdefault(fkey, []).append(i)
            stats_of[fkey] = st
        fkeys = list(files)
        for fkey, digest in zip(fkeys, self.lookup_digests(fkeys) if fkeys else (), strict=True):
            if digest is None:
                unknown[fkey] = files[fkey]
                continue
            for i in files[fkey]:
                item = items[i]
                digests[i] = crop_digest(item.box, digest) if item.__class__ is ImageCrop else digest

    def _read_unknown(self, unknown, stats_of, started, digests, sources, reasons):
        """Read and digest the files no memo knows; the memo learns those that are no longer changing."""
        self.did_io = True
        learned = []
        stats.add(files_read=sum(map(len, unknown.values())))
        for fkey, rows in unknown.items():
            for i in rows:
                try:
                    src = sources[i] = _images.read_source(self.items[i])
                except BadImage as exc:
                    reasons[i] = str(exc)
                    continue
                digests[i] = src.digest
                if digest_trusted(stats_of[fkey], started):
                    learned.append((fkey, src.file_digest))
        self.store.digests.put_many(learned)

    def source(self, i):
        """A source to decode row ``i`` from, for an item identified without reading it."""
        item = self.items[i]
        path = item.path if isinstance(item, ImageCrop) else os.fspath(item)
        try:
            (file_digest,) = self.store.digests.get_many([file_key(path, os.stat(path))])
        except OSError:  # gone since it was identified
            file_digest = None
        if file_digest is None:  # changed since it was identified, or the memo was cleared
            return _images.read_source(item)
        return _images.file_source(item, file_digest)
