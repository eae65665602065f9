"""Where rows live: one store interface, its backends, and process memory in front.

Layers (each module one job; none imports the engine)::

    spec      the Store protocol and the Capabilities a backend declares
    keys      row keys, file keys and model fingerprints (pure functions)
    location  where cache="auto" lives; what a cache parameter names
    sqlite    the local backend (diskcache: SQLite and files)
    shards    the shared backend (immutable Parquet shards at an fsspec URL)
    null      the backend of cache=None
    memory    process memory (rows, digests, call outputs) around any backend
    factory   cache parameter -> store
"""

from .factory import local_store, open_store
from .keys import (
    CACHE_FORMAT_VERSION,
    digest_trusted,
    memo_key,
    memo_keys,
    model_fingerprint,
    row_key,
    stat_key,
    stat_key_of,
)
from .location import default_cache_dir, is_url, resolve_cache_dir
from .memory import CachedStore
from .spec import Capabilities, DigestMemo, Store

__all__ = [
    "CACHE_FORMAT_VERSION",
    "CachedStore",
    "Capabilities",
    "DigestMemo",
    "Store",
    "default_cache_dir",
    "digest_trusted",
    "is_url",
    "local_store",
    "memo_key",
    "memo_keys",
    "model_fingerprint",
    "open_store",
    "resolve_cache_dir",
    "row_key",
    "stat_key",
    "stat_key_of",
]
