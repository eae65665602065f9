"""Keys and fingerprints: pure functions, the one place where a stored row's name is made."""

from __future__ import annotations

import hashlib
import json

__all__ = [
    "CACHE_FORMAT_VERSION",
    "RACY_SECONDS",
    "digest_trusted",
    "memo_key",
    "memo_keys",
    "model_fingerprint",
    "row_key",
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


def row_key(fingerprint, view, digest):
    """The key of one row: the model, the view (or a derived row's name) and the content digest."""
    return f"{fingerprint}/{view}/{digest}"


def stat_key(path, st):
    """What identifies a file's content without reading it: path, device,
    inode, size, mtime and ctime (nanoseconds)."""
    return f"stat/{st.st_dev}:{st.st_ino}:{st.st_size}:{st.st_mtime_ns}:{st.st_ctime_ns}:{path}"


def memo_key(path, st):
    """:func:`stat_key` as a tuple: the key of the in-process memo, which
    is built per item on every warm call (a tuple costs less than a string)."""
    return (path, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def memo_keys(paths, sts):
    """:func:`memo_key` of each path and its stat, inlined (a warm call builds thousands)."""
    return [
        (p, st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns) for p, st in zip(paths, sts, strict=True)
    ]


def stat_key_of(memo):
    """:func:`stat_key` from a :func:`memo_key` tuple."""
    path, dev, ino, size, mtime, ctime = memo
    return f"stat/{dev}:{ino}:{size}:{mtime}:{ctime}:{path}"


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


def measure_key(kind, digest):
    """The key of a photo's audit measures of ``kind`` (quality measures, grey print)."""
    return f"{kind}/{digest}"
