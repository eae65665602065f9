"""One function turns an estimator's ``cache`` parameter into a store
(as scikit-learn's ``check_memory`` does for ``memory``): the engine never
learns which kind it got."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from .location import is_url, resolve_cache_dir
from .memory import CachedStore
from .null import NullStore
from .spec import Store

__all__ = ["open_store", "local_store"]

_OPEN: dict[tuple, CachedStore] = {}
_LOCK = threading.RLock()  # opening a directory store takes it again (local_store)
_NONE = CachedStore(NullStore())


def _opened(key, make):
    # One store per process and place: one SQLite handle, one buffer of shard rows.
    key = (os.getpid(), *key)
    with _LOCK:
        if key not in _OPEN:
            _OPEN[key] = CachedStore(make())
        return _OPEN[key]


def open_store(cache):
    """The store an estimator's ``cache`` parameter names, with process memory in front.

    Parameters
    ----------
    cache : "auto", None, False, path-like, fsspec URL or Store
        ``None`` or ``False``: a store that keeps nothing. ``"auto"`` or
        ``True``: the default directory. A directory: a local SQLite store.
        A URL with a protocol (``file://``, ``s3://``...): a shared shard store.
        An object with the :class:`~skcatdog._store.spec.Store` interface: that
        store.

    Returns
    -------
    CachedStore
    """
    if isinstance(cache, CachedStore):
        return cache
    if cache is None or cache is False:
        return _NONE
    if is_url(cache):
        from .shards import ShardStore

        return _opened(("url", cache), lambda: ShardStore(cache))
    if not isinstance(cache, (str, os.PathLike, bool)) and isinstance(cache, Store):
        # Keyed by the place it names: clones of an estimator (each with a copy of its store) share one.
        name = getattr(cache, "name", None)
        return _opened(("object", type(cache).__qualname__, name if name is not None else id(cache)), lambda: cache)
    directory = resolve_cache_dir(cache)
    return _opened(("dir", str(Path(directory).resolve())), lambda: local_store(directory))


def local_store(directory):
    """The process's local SQLite backend for ``directory``."""
    from .sqlite import SQLiteStore

    key = (os.getpid(), "local", str(Path(directory).resolve()))
    with _LOCK:
        if key not in _LOCAL:
            _LOCAL[key] = SQLiteStore(directory)
        return _LOCAL[key]


_LOCAL: dict[tuple, object] = {}
