"""The embedding store: one diskcache directory shared by every estimator.

A row is addressed by ``(model fingerprint, view, content digest)``; its value
is everything one forward pass gives (pooled embedding and ImageNet logits) as
raw float32 bytes.  diskcache keeps its index in SQLite, so several processes
(joblib workers, parallel CV jobs) can read and write the same directory, and
a process killed mid-run loses at most its uncommitted batch: every committed
entry is whole.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from pathlib import Path

import numpy as np

__all__ = ["CACHE_FORMAT_VERSION", "default_cache_dir", "resolve_cache_dir", "open_store", "model_fingerprint"]

#: Bump when the meaning or layout of a stored row changes.
CACHE_FORMAT_VERSION = 1

#: Environment variable that moves the default cache directory.
CACHE_ENV = "SKCATDOG_CACHE_DIR"

# 8 GiB holds about 900,000 rows of a 1280-d backbone; least recently stored rows go first.
SIZE_LIMIT = 8 * 2**30


def default_cache_dir():
    """Where ``cache="auto"`` keeps embeddings.

    ``$SKCATDOG_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/skcatdog``, else
    ``~/.cache/skcatdog``.
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "skcatdog"


def resolve_cache_dir(cache):
    """Turn an estimator's ``cache`` parameter into a directory, or ``None``.

    Raises
    ------
    ValueError
        If ``cache`` is not ``"auto"``, ``None``, ``False`` or a path.
    """
    if cache is None or cache is False:
        return None
    if cache is True or (isinstance(cache, str) and cache == "auto"):
        return default_cache_dir()
    if isinstance(cache, (str, os.PathLike)):
        return Path(cache).expanduser()
    raise ValueError(f"cache must be 'auto', None or a directory path, got {cache!r}")


def model_fingerprint(**parts):
    """A short stable hash of everything that decides a row's values."""
    payload = json.dumps({"format": CACHE_FORMAT_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


class EmbeddingStore:
    """Rows of float32 values in a diskcache directory."""

    def __init__(self, directory):
        import diskcache

        self.directory = Path(directory)
        self._cache = diskcache.Cache(
            str(self.directory), size_limit=SIZE_LIMIT, eviction_policy="least-recently-stored"
        )

    @staticmethod
    def key(fingerprint, view, digest):
        return f"{fingerprint}/{view}/{digest}"

    def get(self, key, width):
        """The stored row, or ``None`` if absent or not ``width`` floats long."""
        value = self._cache.get(key, default=None, retry=True)
        if not isinstance(value, bytes) or len(value) != 4 * width:
            return None
        return np.frombuffer(value, dtype="<f4")

    def put_many(self, pairs):
        """Store ``(key, float32 row)`` pairs in one transaction."""
        with self._cache.transact(retry=True):
            for key, row in pairs:
                self._cache.set(key, np.ascontiguousarray(row, dtype="<f4").tobytes(), retry=True)

    def __len__(self):
        return len(self._cache)


_STORES: dict[tuple, EmbeddingStore] = {}
_LOCK = threading.Lock()


def open_store(directory):
    """The process's store for ``directory`` (one SQLite handle per process)."""
    key = (os.getpid(), str(Path(directory).resolve()))
    with _LOCK:
        if key not in _STORES:
            _STORES[key] = EmbeddingStore(directory)
        return _STORES[key]
