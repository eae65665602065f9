"""Phase 1 of a call: which content each item holds (its digest), at the least cost.

A file's digest comes from this process's memo (one ``stat``), else from
the store's memo (one query per chunk), else from reading and hashing the
file. Arrays are hashed; crops combine the file's digest and the box.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from stat import S_ISREG

from .. import _images
from .._config import setting
from .._images import BadImage, ImageCrop
from .._store import digest_trusted, memo_key, memo_keys, stat_key
from .._store import memory as process
from .stats import stats

__all__ = ["FileStats", "Identifier", "stat_files"]


@dataclass(frozen=True)
class FileStats:
    """Every file's ``stat``, taken once for the call, and its memo key."""

    stats: list
    started: float  # wall time before the first stat (see digest_trusted)
    files: tuple  # memo keys


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
    return FileStats(sts, started, tuple(memo_keys(items, sts)))


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
        ``stat keys -> digests`` from the store's memo; a caller that can
        fetch more in the same query (the mean of the views) passes its own.
    """

    def __init__(self, items, store, files=None, lookup_digests=None):
        self.items = items
        self.store = store
        self.files = files
        memo = store.digests
        self.lookup_digests = lookup_digests or (memo.get_many if memo is not None else None)
        self.did_io = False  # whether a file was read (threads help from then on)

    def identify(self, chunk):
        """``({i: digest}, {i: source}, {i: reason})`` for the rows in ``chunk``: a file's
        digest comes from a memo where it can (no source is made: the hot path), else
        from reading the file (which gives its source)."""
        stats.add(items_identified=len(chunk))
        memo = process.digests
        items = self.items
        cap = setting("max_file_bytes")
        memo_get, crop_digest = memo.get, _images.crop_digest
        started = time.time()  # before any stat: see digest_trusted
        digests, sources, reasons = {}, {}, {}
        unknown = {}  # memo key -> rows
        stats_of = {}
        mkeys = None
        if self.files is not None:  # every file was stat-ed; a chunk with a bad one goes item by item
            started, sts = self.files.started, self.files.stats[chunk.start : chunk.stop]
            if _all_usable(sts, cap):
                mkeys = self.files.files[chunk.start : chunk.stop]
        if mkeys is not None:
            found = [memo_get(k) for k in mkeys]
            if None not in found:  # the repeated warm call: this process knows every digest
                return dict(zip(chunk, found, strict=True)), sources, reasons
            for i, mkey, st, digest in zip(chunk, mkeys, sts, found, strict=True):
                if digest is None:
                    unknown.setdefault(mkey, []).append(i)
                    stats_of[mkey] = st
                else:
                    digests[i] = digest
            chunk = ()  # identified
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
            mkey = memo_key(path, st)
            digest = memo_get(mkey)
            if digest is None:
                unknown.setdefault(mkey, []).append(i)
                stats_of[mkey] = st
            elif item.__class__ is ImageCrop:
                digests[i] = crop_digest(item.box, digest)
            else:
                digests[i] = digest
        if not unknown:
            return digests, sources, reasons
        if self.lookup_digests is not None:
            mkeys = list(unknown)
            found = self.lookup_digests([stat_key(k[0], stats_of[k]) for k in mkeys])
            known = [(mkey, digest) for mkey, digest in zip(mkeys, found, strict=True) if digest is not None]
            memo.remember(known)
            for mkey, digest in known:
                for i in unknown.pop(mkey):
                    item = items[i]
                    digests[i] = crop_digest(item.box, digest) if isinstance(item, ImageCrop) else digest
        learned = []
        if unknown:
            self.did_io = True
        for mkey, rows in unknown.items():
            for i in rows:
                try:
                    src = sources[i] = _images.read_source(items[i])
                except BadImage as exc:
                    reasons[i] = str(exc)
                    continue
                digests[i] = src.digest
                if digest_trusted(stats_of[mkey], started):
                    learned.append((mkey, src.file_digest))
        memo.remember(learned)
        if learned and self.store.digests is not None:
            self.store.digests.put_many((stat_key(k[0], stats_of[k]), d) for k, d in learned)
        return digests, sources, reasons

    def source(self, i):
        """A source to decode row ``i`` from, for an item identified without reading it."""
        item = self.items[i]
        path = item.path if isinstance(item, ImageCrop) else os.fspath(item)
        try:
            file_digest = process.digests[memo_key(path, os.stat(path))]
        except (KeyError, OSError):  # changed since it was identified, or the memo was cleared
            return _images.read_source(item)
        return _images.file_source(item, file_digest)
