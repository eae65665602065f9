"""Where rows live: one store interface, its backends, and process memory in front.

Layers (each module one job; none imports the engine)::

    spec      the Store protocol, its default methods (StoreBase) and Capabilities
    keys      row, file-digest and measure keys, model fingerprints (pure functions)
    location  where cache="auto" lives; what a cache parameter names
    sqlite    the local backend (one SQLite database it owns)
    shards    the shared backend (immutable Parquet shards at an fsspec URL)
    null      the backend of cache=None
    memory    process memory (rows, digests, call outputs) around any backend: itself a Store
    factory   cache parameter -> store
"""

from .factory import local_store, open_store
from .keys import (
    CACHE_FORMAT_VERSION,
    digest_trusted,
    file_key,
    file_keys,
    measure_key,
    memory_tag,
    model_fingerprint,
    row_key,
    row_prefix,
    stat_key,
)
from .location import default_cache_dir, is_url, resolve_cache_dir
from .memory import CachedStore
from .spec import Capabilities, DigestMemo, MeasureTable, Store, StoreBase

__all__ = [
    "CACHE_FORMAT_VERSION",
    "CachedStore",
    "Capabilities",
    "DigestMemo",
    "MeasureTable",
    "Store",
    "StoreBase",
    "default_cache_dir",
    "digest_trusted",
    "file_key",
    "file_keys",
    "is_url",
    "local_store",
    "measure_key",
    "memory_tag",
    "model_fingerprint",
    "open_store",
    "resolve_cache_dir",
    "row_key",
    "row_prefix",
    "stat_key",
]
