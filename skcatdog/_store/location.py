"""Where ``cache="auto"`` lives, and how a ``cache`` parameter names a place."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_ENV", "default_cache_dir", "is_url", "resolve_cache_dir"]

#: Environment variable that moves the default cache directory.
CACHE_ENV = "SKCATDOG_CACHE_DIR"


def default_cache_dir():
    """Return where ``cache="auto"`` keeps embeddings.

    ``$SKCATDOG_CACHE_DIR`` if set, else ``$XDG_CACHE_HOME/skcatdog``, else
    ``~/.cache/skcatdog``.

    Returns
    -------
    pathlib.Path
        The directory (it may not exist yet).
    """
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "skcatdog"


def is_url(cache):
    """Whether ``cache`` names a shared store by fsspec URL (``s3://``, ``file://``...)."""
    return isinstance(cache, str) and "://" in cache


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
    if is_url(cache):
        raise ValueError(f"cache {cache!r} is a URL, not a directory")
    if isinstance(cache, (str, os.PathLike)):
        return Path(cache).expanduser()
    raise ValueError(f"cache must be 'auto', None or a directory path, got {cache!r}")
