"""A shared, content-keyed, append-only embedding store reached through fsspec.

Several hosts (Dask workers, a laptop running the grid search) share one
store at an fsspec URL (``file:///nfs/...``, ``s3://bucket/prefix``,
``gs://...``, ``memory://...``).  The layout is::

    <url>/shards/<uuid>.parquet     immutable, columns key: string, row: binary (float32 LE)
    <url>/tmp/<uuid>.parquet        being written (local and NFS filesystems only)

Why it is safe to share without locks:

* A shard is published whole or not at all: on a POSIX filesystem it is
  written under ``tmp/`` and renamed into ``shards/`` (rename is atomic); on
  an object store it is one PUT of the complete bytes, which is atomic too.
  A task killed mid-write leaves at most a file in ``tmp/`` that no reader
  lists.
* A key's value is decided by the key (model fingerprint, view, content
  digest), so a key written twice, by two workers or by a retried task,
  holds the same row twice: readers keep either, ``len`` counts keys once
  and :func:`compact` drops the copies.
* Shards are never modified; :func:`compact` publishes a merged shard before
  deleting the ones it replaces, so a reader sees every row at every moment.
* A shard that cannot be read whole (a copy cut short outside this package)
  is skipped with a warning that names it: its rows are misses, computed
  again and published in new shards. :func:`compact` moves it to
  ``<url>/damaged/``.

Reads never scan the shards per lookup. Each host keeps, in a local SQLite
database (:class:`~skcatdog._store.sqlite.SQLiteStore`):

* a key index: which shard holds each key, built by reading only the ``key``
  column of each shard once. It answers :meth:`ShardStore.contains_many` (what
  ``precompute`` asks) without reading a row;
* a read-through copy of the rows of the shards whose rows were asked for,
  each such shard copied whole, once (a ``transform`` reads the rows of a few
  shards, not of the whole store);
* the file digests, which describe this host's files.

Measures (other rows computed from a content, such as an audit's pixel
measures) are published in the shards like model rows, under their own keys
(:func:`~skcatdog._store.keys.measure_row_key`), so every host finds them. A
lookup that misses locally lists ``shards/`` once per batch and indexes only
shards it has not seen. Nothing is ever evicted.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import uuid
import warnings
from pathlib import Path

import numpy as np

from .keys import measure_row_key
from .location import default_cache_dir, is_url
from .spec import Capabilities, StoreBase
from .sqlite import SQLiteStore

__all__ = ["ShardStore", "compact", "publish_shard"]

#: Rows buffered by ``put_many`` before a shard is published without waiting
#: for ``flush``: about 9 MB of EfficientNet-Lite2 rows, a good object size,
#: and the most a killed task can lose.
SHARD_ROWS = 1024

_SHARD_SUFFIX = ".parquet"


def _local_dir(url, local_cache):
    if local_cache is None or local_cache == "auto":
        return default_cache_dir() / f"shared-{hashlib.sha256(url.encode()).hexdigest()[:16]}"
    return Path(local_cache).expanduser()


def _to_table(pairs):
    import pyarrow as pa

    keys, rows = zip(*pairs, strict=True) if pairs else ((), ())
    return pa.table(
        {"key": pa.array(list(keys), pa.string()), "row": pa.array(list(rows), pa.binary())},
        metadata={b"skcatdog": b"shard/1"},
    )


def _table_bytes(table):
    import pyarrow.parquet as pq

    sink = io.BytesIO()
    # Rows are float32 noise to a compressor; keys compress well and are small.
    pq.write_table(table, sink, compression="none", use_dictionary=False)
    return sink.getvalue()


class ShardStore(StoreBase):
    """Rows of float32 values in immutable Parquet shards at an fsspec URL.

    Parameters
    ----------
    url : str
        An fsspec URL with a protocol: ``file:///shared/dir``,
        ``s3://bucket/prefix``, ``gs://...``, ``memory://...``.
    local_cache : "auto" or path, default="auto"
        This host's read-through copy; ``"auto"`` is
        ``default_cache_dir()/shared-<hash of url>``.
    shard_rows : int, default=1024
        Rows buffered before a shard is published ahead of :meth:`flush`.

    Notes
    -----
    Pickles to its URL alone: an unpickled store opens its own filesystem
    and local cache on the host that unpickles it.
    """

    # Lookups may list and fetch shards over the network: threads help.
    capabilities = Capabilities(local=False)

    def __init__(self, url, *, local_cache="auto", shard_rows=SHARD_ROWS):
        import fsspec

        if not is_url(url):
            raise ValueError(
                f"a shared store needs an fsspec URL such as file:///dir or s3://bucket/prefix, got {url!r}"
            )
        self.url = self.name = url.rstrip("/")
        self.shard_rows = int(shard_rows)
        try:
            self._fs, root = fsspec.core.url_to_fs(self.url)
        except (ImportError, ValueError) as exc:
            raise ValueError(f"cannot open the shared store {url!r}: {exc}") from exc
        self._root = root.rstrip("/")
        self._shards_dir = f"{self._root}/shards"
        local = _local_dir(self.url, local_cache)
        self.local_dir = local
        self._lock = threading.RLock()
        self._local = SQLiteStore(local / "rows", size_limit=0)  # a copy: bounded by the shared store
        self._host = _HostCopy(self, self._local)
        # File digests are memoised per host (they describe local files), beside the rows.
        self.digests = self._local.digests
        self.measures = _SharedMeasures(self)
        self._buffer = {}  # key -> row bytes not yet published

    def __reduce__(self):
        return (type(self), (self.url,))

    def __repr__(self):
        return f"ShardStore({self.url!r})"

    # -- reading ---------------------------------------------------------

    def _local_get_many(self, keys, width, cols=None):
        return list(self._local.get_many(keys, width, cols=cols))

    def get_many(self, keys, width, cols=None):
        """Look rows up: this host's copy first, then the shards that hold the others.

        Parameters
        ----------
        keys : sequence of str
            Row keys.
        width : int
            Floats in a row; a row of another length is a miss.
        cols : (int, int), optional
            Return only these floats of each row.

        Returns
        -------
        list
            A float32 array per key, ``None`` where absent.
        """
        keys = list(keys)
        rows = self._local_get_many(keys, width, cols)
        missing = [i for i, row in enumerate(rows) if row is None]
        if missing and self._host.copy_shards_holding([keys[i] for i in missing]):
            for i, row in zip(missing, self._local_get_many([keys[i] for i in missing], width, cols), strict=True):
                rows[i] = row
        start, stop = (0, width) if cols is None else cols
        with self._lock:
            for i in missing:
                value = self._buffer.get(keys[i]) if rows[i] is None else None
                if value is not None and len(value) == 4 * width:
                    rows[i] = np.frombuffer(value, "<f4")[start:stop]
        return rows

    def contains_many(self, keys, width):
        """Whether the store holds each key, from this host's copy and key index: no row is read.

        Parameters
        ----------
        keys : sequence of str
            Row keys.
        width : int
            Floats in a row: a row of another length in this host's copy is absent
            (the index, built from the keys alone, does not know the lengths).

        Returns
        -------
        list of bool
            ``True`` where the store holds the key (published, or buffered by this process).
        """
        keys = list(keys)
        found = self._local.contains_many(keys, width)
        with self._lock:
            for i, key in enumerate(keys):
                if not found[i] and key in self._buffer:
                    found[i] = len(self._buffer[key]) == 4 * width
        absent = [keys[i] for i, hit in enumerate(found) if not hit]
        if not absent:
            return found
        indexed = self._host.indexed(absent)
        return [hit or key in indexed for key, hit in zip(keys, found, strict=True)]

    def get(self, key, width):
        """Look one row up (see :meth:`get_many`).

        Parameters
        ----------
        key : str
            A row key.
        width : int
            Floats in a row.

        Returns
        -------
        numpy.ndarray or None
            The row, ``None`` if absent.
        """
        return self.get_many([key], width)[0]

    # -- writing ---------------------------------------------------------

    def put_many(self, pairs):
        """Buffer rows; publish a shard once ``shard_rows`` are waiting.

        Parameters
        ----------
        pairs : iterable of (str, numpy.ndarray)
            Keys and float32 rows.
        """
        with self._lock:
            for key, row in pairs:
                self._buffer[key] = np.ascontiguousarray(row, dtype="<f4").tobytes()
            if len(self._buffer) >= self.shard_rows:
                self._publish()

    def flush(self):
        """Publish every buffered row as one shard."""
        with self._lock:
            if self._buffer:
                self._publish()

    def _publish(self):
        pairs = list(self._buffer.items())
        name = publish_shard(self._fs, self._root, pairs)
        # Only rows that are in the shared store go into the local copy: a host
        # killed before publishing must not later find rows no one else can.
        self._host.published(name, pairs)
        self._buffer.clear()

    def _list_shards(self):
        return _list_shards(self._fs, self._shards_dir)

    def __len__(self):
        """Unique keys published (buffered rows are not counted until flushed)."""
        return len(set().union(*(_shard_keys(self._fs, f"{self._shards_dir}/{n}") for n in self._list_shards())))

    def shards(self):
        """List the published shards.

        Returns
        -------
        list of str
            Their names.
        """
        return self._list_shards()


class _HostCopy:
    """What one host keeps of a shard store: the key index and the rows of the shards copied
    (both in ``local``, a :class:`~skcatdog._store.sqlite.SQLiteStore`)."""

    def __init__(self, store, local):
        self._store = store
        self._local = local
        self._index = local.shard_index
        self._lock = store._lock
        self._copied = None  # names of shards whose rows are in the local copy (read lazily)
        self._indexed = None  # names of shards whose keys are in the index (read lazily)
        self._damaged = set()  # names of shards found damaged in this process (warned once)

    def indexed(self, keys):
        """The ``keys`` some shard holds (the shards not yet indexed are indexed first if needed)."""
        where = self._index.shards_of(keys)
        if len(where) < len(keys) and self.refresh():
            where = self._index.shards_of(keys)
        return set(where)

    def published(self, name, pairs):
        """Record a shard this host published: its ``(key, row bytes)`` pairs copied and indexed."""
        self._local.put_many((k, np.frombuffer(v, "<f4")) for k, v in pairs)
        self._index.add(name, [k for k, _ in pairs])
        self._indexed_names().add(name)
        self._local.loaded_shards.add([name])
        self._copied_names().add(name)

    def _copied_names(self):
        if self._copied is None:
            self._copied = self._local.loaded_shards.names()
        return self._copied

    def _indexed_names(self):
        if self._indexed is None:
            self._indexed = self._index.names()
        return self._indexed

    def copy_shards_holding(self, keys):
        """Copy into this host's copy the shards that hold ``keys`` (indexing new shards
        first where the index lacks some); True if any rows were copied."""
        with self._lock:
            copied_any = False
            for _ in range(2):
                where = self._index.shards_of(keys)
                if len(where) < len(keys) and self.refresh():
                    where = self._index.shards_of(keys)
                needed = set(where.values()) - self._copied_names()
                if needed:  # another process of this host may have copied them since
                    self._copied_names().update(self._local.loaded_shards.names())
                copied, vanished = self._copy(sorted(needed - self._copied_names()))
                copied_any = copied_any or copied
                if not vanished:  # else: compacted away since indexed; its rows are in a merged shard
                    break
            return copied_any

    def _copy(self, names):
        """Copy the rows of the shards ``names``; ``(any copied, any vanished)``."""
        copied = vanished = False
        for name in names:
            table = self._read(name)
            if table is None:
                vanished = True
                continue
            if table is False:
                continue
            keys = table.column("key").to_pylist()
            rows = (np.frombuffer(v, "<f4") for v in table.column("row").to_pylist())
            self._local.put_many(zip(keys, rows, strict=True))
            self._local.loaded_shards.add([name])
            self._copied_names().add(name)
            copied = True
        return copied, vanished

    def _read(self, name, columns=None):
        """The shard's table; ``None`` if it is gone, ``False`` if it is damaged (warned once);
        either way it leaves the index."""
        table = _read_shard(self._store._fs, f"{self._store._shards_dir}/{name}", columns=columns)
        if table is None or table is False:
            self._index.forget(name)
            self._indexed_names().discard(name)
        if table is False and name not in self._damaged:
            self._damaged.add(name)
            warnings.warn(
                f"skipped the damaged shard {self._store.url}/shards/{name} (it cannot be read whole): its "
                "rows are computed again; skcatdog.distributed.compact sets it aside",
                RuntimeWarning,
                stacklevel=6,
            )
        return table

    def refresh(self):
        """Index the keys of the shards this host has not seen; True if any were new."""
        with self._lock:
            seen = self._indexed_names()
            seen.update(self._index.names())  # indexed since by another process of this host
            indexed_any = False
            for _ in range(2):
                vanished = False
                for name in [n for n in self._store._list_shards() if n not in seen and n not in self._damaged]:
                    table = self._read(name, columns=["key"])
                    if table is None:
                        vanished = True  # compacted away since the listing: its rows are in a merged shard
                        continue
                    if table is False:
                        continue
                    self._index.add(name, table.column("key").to_pylist())
                    seen.add(name)
                    indexed_any = True
                if not vanished:
                    break
            return indexed_any


class _SharedMeasures:
    """A shard store's measures table: measure rows published in the shards like model rows,
    under their own keys, so that every host finds them."""

    def __init__(self, store):
        self._store = store

    def get_many(self, keys, width):
        return self._store.get_many([measure_row_key(k) for k in keys], width)

    def put_many(self, pairs):
        self._store.put_many((measure_row_key(k), row) for k, row in pairs)


def _read_shard(fs, path, columns=None):
    """The shard's table; ``None`` if it is gone (compacted away), ``False`` if it is damaged."""
    import pyarrow.parquet as pq

    try:
        with fs.open(path, "rb") as f:
            return pq.read_table(f, columns=columns)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):  # pyarrow's ArrowInvalid is a ValueError, ArrowIOError an OSError
        return False


def _list_shards(fs, shards_dir):
    try:
        # Listings may be cached by fsspec (s3fs, gcsfs); other hosts publish behind its back.
        fs.invalidate_cache(shards_dir)
        paths = fs.ls(shards_dir, detail=False)
    except FileNotFoundError:
        return []
    names = (p.rstrip("/").rsplit("/", 1)[-1] for p in paths)
    return sorted(n for n in names if n.endswith(_SHARD_SUFFIX) and not n.startswith("."))


def _shard_keys(fs, path):
    table = _read_shard(fs, path, columns=["key"])
    return set(table.column("key").to_pylist()) if table else set()


def _is_posix(fs):
    from fsspec.implementations.local import LocalFileSystem

    return isinstance(fs, LocalFileSystem)


def publish_shard(fs, root, pairs):
    """Write ``(key, row bytes)`` pairs as one shard under ``root/shards``, atomically; return its name."""
    data = _table_bytes(_to_table(pairs))
    name = f"{uuid.uuid4().hex}{_SHARD_SUFFIX}"
    final = f"{root}/shards/{name}"
    if _is_posix(fs):
        tmp = f"{root}/tmp/{name}"
        fs.makedirs(f"{root}/tmp", exist_ok=True)
        fs.makedirs(f"{root}/shards", exist_ok=True)
        with fs.open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            fs.mv(tmp, final)
        except BaseException:
            fs.rm(tmp)
            raise
    else:
        # One PUT of the whole object: object stores never expose a partial one.
        fs.pipe(final, data)
    return name


def compact(url, *, rows_per_shard=50_000, min_shards=2):
    """Merge the shards at ``url`` into as few as possible, without duplicate keys.

    Each merged shard is published (atomically) before the shards it
    replaces are deleted, so concurrent readers always see every row.  Safe
    while other processes write new shards: only the shards listed at the
    start are merged and removed.  Never runs by itself: call it when a
    store has many small shards (each ``precompute`` task publishes at least
    one).

    Parameters
    ----------
    url : str
        The store's fsspec URL.
    rows_per_shard : int, default=50_000
        Bound on a merged shard (about 450 MB of EfficientNet-Lite2 rows), which
        is also what this function holds in memory; a smaller store becomes one shard.
    min_shards : int, default=2
        Do nothing when fewer shards than this exist.

    Returns
    -------
    dict
        ``{"shards_before", "shards_after", "rows", "duplicates_dropped", "damaged_set_aside"}``:
        the last lists the shards that could not be read whole, moved to
        ``<url>/damaged/`` (their rows are computed again where they are missed).
    """
    import fsspec

    if not is_url(url):
        raise ValueError(f"compact needs a shared store's fsspec URL such as file:///dir, got {url!r}")
    fs, root = fsspec.core.url_to_fs(url.rstrip("/"))
    root = root.rstrip("/")
    names = _list_shards(fs, f"{root}/shards")
    if len(names) < min_shards:
        return {"shards_before": len(names), "shards_after": len(names), "rows": None, "duplicates_dropped": 0}
    seen, pending, total, damaged = set(), [], 0, []
    for name in names:
        table = _read_shard(fs, f"{root}/shards/{name}")
        if not table:
            if table is False:
                damaged.append(name)
            continue
        total += table.num_rows
        for key, row in zip(table.column("key").to_pylist(), table.column("row").to_pylist(), strict=True):
            if key not in seen:
                seen.add(key)
                pending.append((key, row))
        if len(pending) >= rows_per_shard:
            publish_shard(fs, root, pending[:rows_per_shard])
            pending = pending[rows_per_shard:]
    while pending:
        publish_shard(fs, root, pending[:rows_per_shard])
        pending = pending[rows_per_shard:]
    for name in names:
        try:
            if name in damaged:
                fs.makedirs(f"{root}/damaged", exist_ok=True)
                fs.mv(f"{root}/shards/{name}", f"{root}/damaged/{name}")
            else:
                fs.rm(f"{root}/shards/{name}")
        except FileNotFoundError:
            pass  # another compact() got there first; its merged shard holds the same rows
    return {
        "shards_before": len(names),
        "shards_after": len(_list_shards(fs, f"{root}/shards")),
        "rows": len(seen),
        "duplicates_dropped": total - len(seen),
        "damaged_set_aside": damaged,
    }
