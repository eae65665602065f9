"""The local backend: rows in one diskcache directory (SQLite and files).

A row's value is everything one forward pass gives (pooled embedding and
ImageNet logits) as raw float32 bytes. diskcache keeps its index in SQLite,
so several processes (joblib workers, parallel CV jobs) can read and write
the same directory, and a process killed mid-run loses at most its
uncommitted batch: every committed entry is whole.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import diskcache
import numpy as np

from .spec import Capabilities

__all__ = ["SIZE_LIMIT", "SQLiteDigestMemo", "SQLiteStore"]

# 8 GiB holds about 900,000 rows of a 1280-d backbone; least recently stored rows go first.
SIZE_LIMIT = 8 * 2**30

# Rows this many floats or longer are stored by diskcache in files of their own
# (its default ``disk_min_file_size`` of 32 KiB); the batched read below only
# sees rows held inside SQLite and leaves the others to ``Cache.get``.
SQL_BATCH = 128  # keys per query: SQLite's IN lists are no faster longer (measured on 3,000 photos)


def _batched(sql, query, keys, params=()):
    """The rows of ``query`` run once per batch of ``keys``: its ``{keys}`` becomes one
    placeholder per key, bound after ``params``."""
    rows = []
    for i in range(0, len(keys), SQL_BATCH):
        batch = keys[i : i + SQL_BATCH]
        rows += sql(query.format(keys=",".join("?" * len(batch))), (*params, *batch)).fetchall()
    return rows


def _select(sql, keys, value="value", params=()):
    """``{key: (mode, value)}`` for the keys present, one ``sql`` query per batch.

    ``value`` is the SQL expression read for each key (with ``params`` bound
    before the keys), so a caller can ask SQLite for part of a value.
    """
    # diskcache has no get_many; its schema has been stable since 4.0
    query = f"SELECT key, mode, {value} FROM Cache WHERE raw = 1 AND key IN ({{keys}})"
    return {key: (mode, value) for key, mode, value in _batched(sql, query, keys, params)}


class SQLiteDigestMemo:
    """Content digests remembered by :func:`~skcatdog._store.keys.stat_key` in the
    store's own SQLite database, so a warm ``transform`` in a new process does
    not re-read and re-hash every photo (git's index and ccache's direct mode
    do the same); only digests :func:`~skcatdog._store.keys.digest_trusted`
    allows are put.
    """

    def __init__(self, store):
        self._store = store

    def get_many(self, keys):
        """Digests for ``keys`` (``None`` where unknown)."""
        found = _select(self._store.read, list(keys))
        out = []
        for key in keys:
            mode, value = found.get(key, (None, None))
            out.append(value if mode == _MODE_RAW and isinstance(value, str) else None)
        return out

    def put_many(self, pairs):
        pairs = list(pairs)
        if not pairs:
            return
        cache = self._store.cache
        with cache.transact(retry=True):
            for key, digest in pairs:
                cache.set(key, digest, retry=True)


_MODE_RAW = 1  # diskcache.core.MODE_RAW: the value is held inline in SQLite
_F4 = np.dtype("<f4")  # a row's values (a dtype object: np.frombuffer parses a string per call)


class SQLiteStore:
    """Rows of float32 values in a diskcache directory.

    Reads go through a plain SQLite connection per thread; the diskcache
    object, which writes its settings whenever it is opened, is opened on the
    first write (or when the directory has no store yet), so a warm call in
    a new process does not pay for it.
    """

    capabilities = Capabilities(local=True, derived_rows=True, joined_lookup=True)

    def __init__(self, directory):
        self.directory = Path(directory)
        self.name = str(self.directory)
        self._lock = threading.Lock()
        self._cache = None
        self._readers = threading.local()
        self.digests = SQLiteDigestMemo(self)

    @property
    def cache(self):
        """The :class:`diskcache.Cache` (opened once per process)."""
        if self._cache is None:
            with self._lock:
                if self._cache is None:
                    self._cache = diskcache.Cache(
                        str(self.directory),
                        size_limit=SIZE_LIMIT,
                        eviction_policy="least-recently-stored",
                        # Reads through a memory map, not a pread per page: a new process's first
                        # lookups in a large store take half the time. SQLite caps it (2 GiB in
                        # common builds).
                        sqlite_mmap_size=SIZE_LIMIT,
                    )
        return self._cache

    def read(self, query, params=()):
        """Run a read-only ``query`` on this thread's connection; returns the cursor."""
        con = getattr(self._readers, "con", None)
        if con is None:
            db = self.directory / diskcache.core.DBNAME
            if not db.exists():
                self.cache  # noqa: B018 - creates the directory, the schema and its settings
            con = sqlite3.connect(str(db), timeout=60, isolation_level=None)
            con.execute(f"PRAGMA mmap_size = {SIZE_LIMIT}")  # as the diskcache connection (see cache)
            con.execute("PRAGMA cache_size = 8192")
            self._readers.con = con
        try:
            return con.execute(query, params)
        except sqlite3.OperationalError as exc:
            if "no such table" not in str(exc):
                raise
            # Another process is creating the store: diskcache's set-up waits for it.
            self.cache  # noqa: B018
            return con.execute(query, params)

    @staticmethod
    def _row(value, width):
        if not isinstance(value, bytes) or len(value) != 4 * width:
            return None
        return np.frombuffer(value, _F4)

    def get(self, key, width):
        """The stored row, or ``None`` if absent or not ``width`` floats long."""
        return self._row(self.cache.get(key, default=None, retry=True), width)

    def get_many(self, keys, width, cols=None):
        """Rows for ``keys`` in one query per batch (``None`` where absent).

        ``cols=(start, stop)`` reads only those floats of each row (SQLite
        copies just those bytes), for callers that want embeddings alone.
        """
        start, stop = (0, width) if cols is None else cols
        keys = list(keys)
        found = _select(
            self.read,
            keys,
            value="CASE WHEN length(value) = ? THEN substr(value, ?, ?) END",  # NULL: a row of another width
            params=(4 * width, 4 * start + 1, 4 * (stop - start)),
        )
        out = []
        frombuffer = np.frombuffer
        for key in keys:
            mode, value = found.get(key, (None, None))
            if mode == _MODE_RAW:
                out.append(None if value is None else frombuffer(value, _F4))
            elif mode is None:
                out.append(None)
            else:  # held in a file of its own
                row = self.get(key, width)
                out.append(None if row is None else row[start:stop])
        return out

    def get_many_by_file(self, stat_keys, prefix, width):
        """``(digest, row)`` for each :func:`stat_key`, from the digest memo and the
        row stored under ``prefix + digest``, in one joined query per batch.

        ``(None, None)`` for a file the memo does not know, ``(digest, None)``
        for a known file without such a row.
        """
        stat_keys = list(stat_keys)
        query = (
            "SELECT m.key, m.value, r.mode, CASE WHEN length(r.value) = ? THEN r.value END "
            "FROM Cache AS m LEFT JOIN Cache AS r ON r.key = ? || m.value AND r.raw = 1 "
            f"WHERE m.raw = 1 AND m.mode = {_MODE_RAW} AND m.key IN ({{keys}})"
        )
        found = {row[0]: row for row in _batched(self.read, query, stat_keys, (4 * width, prefix))}
        out = []
        append, get, frombuffer, f4 = out.append, found.get, np.frombuffer, _F4
        for key in stat_keys:
            row = get(key)
            if row is None or row[1].__class__ is not str:
                append((None, None))
                continue
            _, digest, mode, value = row
            if value is not None:  # mode is raw: a width-checked value was returned
                append((digest, frombuffer(value, f4)))
            elif mode is None or mode == _MODE_RAW:
                append((digest, None))
            else:  # held in a file of its own
                append((digest, self.get(prefix + digest, width)))
        return out

    def put_many(self, pairs):
        """Store ``(key, float32 row)`` pairs in one transaction."""
        cache = self.cache
        with cache.transact(retry=True):
            for key, row in pairs:
                cache.set(key, np.ascontiguousarray(row, dtype=_F4).tobytes(), retry=True)

    def flush(self):
        """Nothing is buffered: every :meth:`put_many` is committed."""

    def __len__(self):
        """Rows stored (memoised digests are not rows)."""
        (n,) = self.read("SELECT COUNT(*) FROM Cache WHERE key NOT LIKE 'stat/%'").fetchone()
        return n
