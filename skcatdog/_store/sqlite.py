"""The local backend: rows, file digests and measures in one SQLite database it owns.

Schema (``store.sqlite3`` in the cache directory; ``PRAGMA user_version`` is
:data:`SCHEMA_VERSION`)::

    rows           key TEXT PRIMARY KEY, value BLOB   a model's row: float32 little-endian
    digests        file TEXT PRIMARY KEY, digest TEXT  a file's content digest at one stat
    measures       key TEXT PRIMARY KEY, value BLOB   other float32 rows computed from a content
    loaded_shards  name TEXT PRIMARY KEY               shards whose rows were copied in (a shard store's local copy)
    indexed_shards id INTEGER PRIMARY KEY, name TEXT    shards whose keys are in shard_keys
    shard_keys     key TEXT, shard INTEGER             which shard holds each key (a shard store's key index)

The database is in WAL mode: readers never wait for a writer, and several
processes (joblib workers, parallel CV jobs) may read and write one directory.
Each ``put_many`` is one transaction, so a process killed mid-run loses at most
its uncommitted batch and every committed row is whole. A database SQLite
reports as damaged is moved aside with a warning and its rows are computed
again. Nothing is ever evicted: past ``size_limit`` new rows are computed but not
stored, with a warning that names the setting.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import warnings
from pathlib import Path

import numpy as np

from .keys import stat_key
from .spec import Capabilities, StoreBase

__all__ = ["DB_NAME", "SCHEMA_VERSION", "SIZE_LIMIT", "SIZE_LIMIT_ENV", "Database", "SQLiteStore", "StoreFullWarning"]

#: The database's file name in the cache directory.
DB_NAME = "store.sqlite3"
#: Bump when the tables change; a database of an older version gains the new tables in place,
#: one of a newer version is not read.
SCHEMA_VERSION = 2

#: Environment variable that sets :data:`SIZE_LIMIT` (bytes; ``0``: no limit).
SIZE_LIMIT_ENV = "SKCATDOG_CACHE_SIZE_LIMIT"
#: Default bound on the database: a million photos' rows of two 1280-d views with
#: their logits (9 KB each) and their mean take about 30 GB.
SIZE_LIMIT = 64 * 2**30

SQL_BATCH = 128  # keys per query: SQLite's IN lists are no faster longer (measured on 3,000 photos)

# Reads through a memory map, not a pread per page: a new process's first lookups in a large
# store take half the time. SQLite caps it (2 GiB in common builds).
_MMAP_BYTES = 8 * 2**30

_TABLES = (
    "CREATE TABLE IF NOT EXISTS rows (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS digests (file TEXT PRIMARY KEY, digest TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS measures (key TEXT PRIMARY KEY, value BLOB NOT NULL)",
    "CREATE TABLE IF NOT EXISTS loaded_shards (name TEXT PRIMARY KEY)",
    "CREATE TABLE IF NOT EXISTS indexed_shards (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)",
    # A key may sit in several shards (written twice, or merged by compact before the old ones go).
    "CREATE TABLE IF NOT EXISTS shard_keys (key TEXT NOT NULL, shard INTEGER NOT NULL, PRIMARY KEY (key, shard)) "
    "WITHOUT ROWID",
)
_F4 = np.dtype("<f4")  # a row's values (a dtype object: np.frombuffer parses a string per call)


class StoreFullWarning(UserWarning):
    """A local store reached its size limit: rows are computed but no longer stored."""


def _size_limit(value):
    if value is None:
        text = os.environ.get(SIZE_LIMIT_ENV, "")
        try:
            value = int(text) if text else SIZE_LIMIT
        except ValueError:
            raise ValueError(f"${SIZE_LIMIT_ENV} must be an integer number of bytes, got {text!r}") from None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"size_limit must be a non-negative integer number of bytes, got {value!r}")
    return value


def _blobs(pairs):
    return [(key, np.ascontiguousarray(row, dtype=_F4).tobytes()) for key, row in pairs]


class _Digests:
    """The store's file-digest memo (see :class:`~skcatdog._store.spec.DigestMemo`)."""

    def __init__(self, db):
        self._db = db

    def get_many(self, files):
        texts = [stat_key(f) for f in files]
        found = dict(self._db.select("SELECT file, digest FROM digests WHERE file IN ({keys})", texts))
        return [found.get(t) for t in texts]

    def put_many(self, pairs):
        self._db.write(
            "INSERT OR REPLACE INTO digests (file, digest) VALUES (?, ?)", [(stat_key(f), d) for f, d in pairs]
        )


class _Measures:
    """The store's measures table (see :class:`~skcatdog._store.spec.MeasureTable`)."""

    def __init__(self, db):
        self._db = db

    def get_many(self, keys, width):
        keys = list(keys)
        query = "SELECT key, CASE WHEN length(value) = ? THEN value END FROM measures WHERE key IN ({keys})"
        found = dict(self._db.select(query, keys, (4 * width,)))
        return [None if found.get(k) is None else np.frombuffer(found[k], _F4) for k in keys]

    def put_many(self, pairs):
        self._db.write("INSERT OR REPLACE INTO measures (key, value) VALUES (?, ?)", _blobs(pairs))


class _LoadedShards:
    """Names of the shards a shard store copied into this store."""

    def __init__(self, db):
        self._db = db

    def names(self):
        return {name for (name,) in self._db.select("SELECT name FROM loaded_shards", [])}

    def add(self, names):
        self._db.write("INSERT OR IGNORE INTO loaded_shards (name) VALUES (?)", [(n,) for n in names])


class _ShardIndex:
    """Which shard of a shard store holds each key: built from the shards' key columns alone,
    so a host learns what the store holds without copying its rows."""

    def __init__(self, db):
        self._db = db

    def names(self):
        """The shards whose keys are indexed."""
        return {name for (name,) in self._db.select("SELECT name FROM indexed_shards", [])}

    def add(self, name, keys):
        """Index ``keys`` as held by the shard ``name``, in one transaction."""
        self._db.write_all(
            [
                ("INSERT OR IGNORE INTO indexed_shards (name) VALUES (?)", [(name,)]),
                (
                    "INSERT OR IGNORE INTO shard_keys (key, shard) SELECT ?, id FROM indexed_shards WHERE name = ?",
                    [(key, name) for key in keys],
                ),
            ]
        )

    def shards_of(self, keys):
        """``{key: shard name}`` for the indexed ``keys`` (any one shard that holds each)."""
        query = (
            "SELECT k.key, s.name FROM shard_keys AS k JOIN indexed_shards AS s ON s.id = k.shard "
            "WHERE k.key IN ({keys})"
        )
        return dict(self._db.select(query, list(keys)))

    def forget(self, name):
        """Drop a shard (gone, or found damaged) and its keys from the index."""
        self._db.write_all(
            [
                ("DELETE FROM shard_keys WHERE shard IN (SELECT id FROM indexed_shards WHERE name = ?)", [(name,)]),
                ("DELETE FROM indexed_shards WHERE name = ?", [(name,)]),
            ]
        )


def _use_wal(con, path, timeout=60.0):
    """Put the database in WAL mode (kept by the file: its creator sets it once).

    Switching needs the database to itself, and SQLite answers "locked" at
    once instead of waiting, so processes creating the same store together
    (the workers of one host) retry until one of them has switched it.
    """
    deadline = time.monotonic() + timeout
    while True:
        try:
            if con.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
        if time.monotonic() > deadline:
            raise sqlite3.OperationalError(
                f"could not put the cache database {path} in WAL mode: another process keeps it locked"
            )
        time.sleep(0.02)


class Database:
    """The store's SQLite database: one connection per thread, created with its schema on
    first use, set aside (with a warning) if SQLite reports it damaged.

    Parameters
    ----------
    path : pathlib.Path
    """

    def __init__(self, path):
        self.path = path
        self.directory = path.parent
        self._threads = threading.local()  # one connection per thread
        self._lock = threading.Lock()
        self._generation = 0  # bumped when a damaged database is set aside: every thread reconnects

    def _connect(self):
        self.directory.mkdir(parents=True, exist_ok=True)
        con = sqlite3.connect(str(self.path), timeout=60, isolation_level=None)
        con.execute(f"PRAGMA mmap_size = {_MMAP_BYTES}")
        con.execute("PRAGMA cache_size = 8192")
        con.execute("PRAGMA synchronous = NORMAL")  # in WAL mode: a committed transaction survives a crashed process
        (version,) = con.execute("PRAGMA user_version").fetchone()
        if version != SCHEMA_VERSION:
            self._create(con, version)
        return con

    def _create(self, con, version):
        if version > SCHEMA_VERSION:
            raise RuntimeError(
                f"the cache database {self.path} has schema version {version}, newer than this skcatdog "
                f"reads ({SCHEMA_VERSION}): upgrade skcatdog or use another cache directory"
            )
        _use_wal(con, self.path)
        con.execute("BEGIN IMMEDIATE")  # concurrent creators wait for each other
        try:
            for statement in _TABLES:
                con.execute(statement)
            con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            con.execute("COMMIT")
        except BaseException:
            con.execute("ROLLBACK")
            raise

    def _con(self):
        local = self._threads
        con = getattr(local, "con", None)
        if con is None or local.generation != self._generation:
            local.con, local.generation = self._connect(), self._generation
            con = local.con
        return con

    def _run(self, work):
        """``work(connection)``, once more on a fresh database if SQLite finds this one damaged."""
        try:
            return work(self._con())
        except sqlite3.OperationalError:
            raise  # locked, disk full, I/O: not damage
        except sqlite3.DatabaseError as exc:
            self._set_aside(exc)
            return work(self._con())

    def _set_aside(self, exc):
        with self._lock:
            aside = self.path.with_name(f"{DB_NAME}.damaged-{os.getpid()}-{time.time_ns()}")
            try:
                os.replace(self.path, aside)
            except FileNotFoundError:
                pass  # another thread or process set it aside first
            for suffix in ("-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)
            self._generation += 1
        warnings.warn(
            f"the cache database {self.path} is damaged ({exc}); it was moved to {aside.name} and its rows "
            "will be computed again",
            RuntimeWarning,
            stacklevel=4,
        )

    def select(self, query, keys, params=()):
        """The rows of ``query`` run once per batch of ``keys``: its ``{keys}`` becomes one
        placeholder per key, bound after ``params`` (no ``{keys}``: run once)."""

        def work(con):
            if "{keys}" not in query:
                return con.execute(query, params).fetchall()
            out = []
            for i in range(0, len(keys), SQL_BATCH):
                batch = keys[i : i + SQL_BATCH]
                out += con.execute(query.format(keys=",".join("?" * len(batch))), (*params, *batch)).fetchall()
            return out

        return self._run(work)

    def write(self, statement, rows):
        """``executemany(statement, rows)`` in one transaction."""
        self.write_all([(statement, rows)])

    def write_all(self, steps):
        """``executemany(statement, rows)`` for each ``(statement, rows)`` step, in one transaction."""
        steps = [(statement, rows) for statement, rows in steps if rows]
        if not steps:
            return

        def work(con):
            con.execute("BEGIN IMMEDIATE")
            try:
                for statement, rows in steps:
                    con.executemany(statement, rows)
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise

        self._run(work)


class SQLiteStore(StoreBase):
    """Rows of float32 values in one SQLite database in ``directory``.

    Parameters
    ----------
    directory : path-like
        Created on first use.
    size_limit : int, optional
        Bytes the database may grow to; past it new rows are computed but not
        stored, with a :class:`StoreFullWarning`. Nothing is ever evicted.
        Default ``$SKCATDOG_CACHE_SIZE_LIMIT`` or :data:`SIZE_LIMIT`; ``0``: no limit.
    """

    capabilities = Capabilities(local=True, derived_rows=True)

    def __init__(self, directory, size_limit=None):
        self.directory = Path(directory)
        self.name = str(self.directory)
        self.path = self.directory / DB_NAME
        self.size_limit = _size_limit(size_limit)
        self.db = Database(self.path)
        self._warned_full = False
        self.digests = _Digests(self.db)
        self.measures = _Measures(self.db)
        self.loaded_shards = _LoadedShards(self.db)
        self.shard_index = _ShardIndex(self.db)

    def __repr__(self):
        return f"SQLiteStore({self.name!r})"

    # -- rows ------------------------------------------------------------

    def get(self, key, width):
        """The stored row, or ``None`` if absent or not ``width`` floats long."""
        return self.get_many([key], width)[0]

    def get_many(self, keys, width, cols=None):
        """Rows for ``keys`` in one query per batch (``None`` where absent).

        ``cols=(start, stop)`` reads only those floats of each row (SQLite
        copies just those bytes), for callers that want embeddings alone.
        """
        start, stop = (0, width) if cols is None else cols
        keys = list(keys)
        if (start, stop) == (0, width):
            value, params = "CASE WHEN length(value) = ? THEN value END", (4 * width,)
        else:
            value, params = (
                "CASE WHEN length(value) = ? THEN substr(value, ?, ?) END",
                (4 * width, 4 * start + 1, 4 * (stop - start)),
            )
        found = dict(self.db.select(f"SELECT key, {value} FROM rows WHERE key IN ({{keys}})", keys, params))
        get, frombuffer, f4 = found.get, np.frombuffer, _F4
        return [None if (v := get(k)) is None else frombuffer(v, f4) for k in keys]

    def contains_many(self, keys, width):
        """Whether each key has a row ``width`` floats long, without reading the rows."""
        keys = list(keys)
        query = "SELECT key FROM rows WHERE length(value) = ? AND key IN ({keys})"
        found = {key for (key,) in self.db.select(query, keys, (4 * width,))}
        return [key in found for key in keys]

    def get_many_by_file(self, files, prefix, width):
        """Each file's memoised digest and the row under ``prefix + digest``, in one
        joined query per batch."""
        texts = [stat_key(f) for f in files]
        query = (
            "SELECT d.file, d.digest, CASE WHEN length(r.value) = ? THEN r.value END "
            "FROM digests AS d LEFT JOIN rows AS r ON r.key = ? || d.digest WHERE d.file IN ({keys})"
        )
        found = {file: (digest, value) for file, digest, value in self.db.select(query, texts, (4 * width, prefix))}
        digests, rows = [], []
        get, frombuffer, f4, none = found.get, np.frombuffer, _F4, (None, None)
        for text in texts:
            digest, value = get(text, none)
            digests.append(digest)
            rows.append(None if value is None else frombuffer(value, f4))
        return digests, rows

    def put_many(self, pairs):
        """Store ``(key, float32 row)`` pairs in one transaction (nothing past ``size_limit``)."""
        blobs = _blobs(pairs)
        if blobs and self._has_room():
            self.db.write("INSERT OR REPLACE INTO rows (key, value) VALUES (?, ?)", blobs)

    def _has_room(self):
        if not self.size_limit:
            return True
        size = 0
        for path in (self.path, Path(f"{self.path}-wal")):  # rows not yet checkpointed are in the WAL
            try:
                size += path.stat().st_size
            except FileNotFoundError:
                pass
        if size < self.size_limit:
            return True
        if not self._warned_full:
            self._warned_full = True
            warnings.warn(
                f"the cache {self.directory} holds {size:,} bytes, at its limit of {self.size_limit:,}: new rows "
                f"are computed but not stored. Raise ${SIZE_LIMIT_ENV} (0: no limit) or delete the directory.",
                StoreFullWarning,
                stacklevel=4,
            )
        return False

    def flush(self):
        """Nothing is buffered: every :meth:`put_many` is committed."""

    def __len__(self):
        """Rows stored (file digests and measures are not rows)."""
        ((n,),) = self.db.select("SELECT COUNT(*) FROM rows", [])
        return n
