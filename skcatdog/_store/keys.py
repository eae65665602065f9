"""Keys and fingerprints: pure functions, the one place where a stored value's name is made.

A store keeps three namespaces apart (see :class:`~skcatdog._store.spec.Store`):
rows (:func:`row_key`), file digests (:func:`file_key`, and :func:`stat_key`, its
text form) and measures (:func:`measure_key`). Process memory has keys of its own
(:func:`memory_tag`).
"""

from __future__ import annotations

import hashlib
import json

__all__ = [
    "CACHE_FORMAT_VERSION",
    "RACY_SECONDS",
    "digest_trusted",
    "file_key",
    "file_keys",
    "measure_key",
    "measure_row_key",
    "memory_tag",
    "model_fingerprint",
    "row_key",
    "row_prefix",
    "stat_key",
]

#: Bump when the meaning or layout of a stored row changes.
CACHE_FORMAT_VERSION = 1

#: A file's digest is memoised only if its ctime and mtime were this many
#: seconds old when it was read (see :func:`digest_trusted`).
RACY_SECONDS = 2.0


def model_fingerprint(**parts):
    """A short stable hash of everything that decides a row's values."""
    payload = json.dumps({"format": CACHE_FORMAT_VERSION, **parts}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:24]


def row_prefix(fingerprint, view):
    """What every row of one model and view (or derived row's name) starts with:
    ``row_prefix(f, v) + digest == row_key(f, v, digest)``."""
    return f"{fingerprint}/{view}/"


def row_key(fingerprint, view, digest):
    """The key of one row: the model, the view (or a derived row's name) and the content digest."""
    return f"{fingerprint}/{view}/{digest}"


def measure_key(kind, digest):
    """The key of one measure row: what was measured (with its version, such as
    ``"quality/1"``) and the content digest."""
    return f"{kind}/{digest}"


def measure_row_key(key):
    """The row key under which a store that keeps everything in one table (a shard store)
    keeps the measure row ``key`` (a :func:`measure_key`): apart from every model row, whose
    key starts with its fingerprint."""
    return f"measures/{key}"


def file_key(path, st):
    """What identifies a file's content without reading it: path, device, inode, size,
    mtime and ctime (nanoseconds), as a tuple (a warm call builds one per item, and a
    tuple costs less than a string). The key of the file-digest namespace."""
    return (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def file_keys(paths, sts):
    """:func:`file_key` of each path and its stat, inlined (a warm call builds thousands)."""
    return [
        (p, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) for p, st in zip(paths, sts, strict=True)
    ]


def stat_key(file):
    """A :func:`file_key` as text, as a backend stores it."""
    path, dev, ino, size, mtime, ctime = file
    return f"{dev}:{ino}:{size}:{mtime}:{ctime}:{path}"


def memory_tag(store_name, fingerprint, what):
    """The name under which process memory keeps values derived for one store and model
    (a mean of views, a whole call's output); the full key adds the content it is of."""
    return f"{store_name}/{fingerprint}/{what}"


def digest_trusted(st, started):
    """Whether a file stat-ed at wall time ``started`` may have its digest memoised.

    A file rewritten in place keeps its path, inode and perhaps its size and
    mtime (``os.utime`` or a write within one timestamp tick), but the kernel
    sets its ctime to the time of the write, and ctime cannot be set back.
    A digest is only remembered when the file's ctime and mtime were at least
    :data:`RACY_SECONDS` older than the moment the file was stat-ed before
    reading, so any later write gives a ctime, hence a key, that no
    remembered entry has. (Git calls such recent files "racily clean" and
    re-checks them the same way.) The bound fails only if the clock steps
    back by more than that, or on file systems whose ctime is coarser
    than that or set by a server with a skewed clock.
    """
    newest = max(st.st_ctime_ns, st.st_mtime_ns) / 1e9
    return newest < started - RACY_SECONDS
