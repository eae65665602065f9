"""Parameter checks shared by every estimator that runs a backbone."""

from __future__ import annotations

import numbers
import os

from . import _engine
from ._cache import is_url, resolve_cache_dir
from .backbones import get_backbone


def backbone_names(backbone, param="backbone"):
    """A backbone name or a non-empty list of distinct names -> list of names (each registered)."""
    names = [backbone] if isinstance(backbone, str) else backbone
    try:
        names = list(names)
    except TypeError:
        raise ValueError(f"{param} must be a backbone name or a list of names, got {backbone!r}") from None
    if not names or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{param} must be a backbone name or a non-empty list of names, got {backbone!r}")
    if len(set(names)) != len(names):
        raise ValueError(f"{param} names a backbone twice: {names!r}")
    for name in names:
        get_backbone(name)  # raises, listing the registered names
    return names


def check_views(views, param="views"):
    """A view name or a non-empty tuple of distinct names -> tuple of names."""
    from ._images import VIEWS

    names = (views,) if isinstance(views, str) else views
    try:
        names = tuple(names)
    except TypeError:
        raise ValueError(f"{param} must be one of {VIEWS} or a tuple of them, got {views!r}") from None
    if not names or any(v not in VIEWS for v in names) or len(set(names)) != len(names):
        raise ValueError(f"{param} must be one of {VIEWS} or a tuple of distinct ones, got {views!r}")
    return names


def check_engine_params(est):
    """Validate the parameters every backbone-running estimator passes to the engine."""
    weights = est.weights
    if not (weights is None or isinstance(weights, (str, os.PathLike))):
        raise ValueError(f"weights must be 'imagenet', a file path or None, got {weights!r}")
    if isinstance(weights, (str, os.PathLike)) and weights != "imagenet":
        if not os.path.isfile(os.fspath(weights)):
            raise ValueError(f"weights file {os.fspath(weights)!r} does not exist")
    if not isinstance(est.batch_size, numbers.Integral) or isinstance(est.batch_size, bool) or est.batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {est.batch_size!r}")
    if est.n_jobs is not None and (not isinstance(est.n_jobs, numbers.Integral) or est.n_jobs == 0):
        raise ValueError(f"n_jobs must be a non-zero integer, got {est.n_jobs!r}")
    if est.precision not in _engine.PRECISIONS:
        raise ValueError(f"precision must be one of {_engine.PRECISIONS}, got {est.precision!r}")
    if not isinstance(est.verbose, numbers.Integral):
        raise ValueError(f"verbose must be an integer, got {est.verbose!r}")
    if not is_url(est.cache):
        resolve_cache_dir(est.cache)


def engine_kwargs(est):
    """The engine arguments an estimator's parameters stand for."""
    return dict(
        weights=est.weights,
        batch_size=est.batch_size,
        cache=est.cache,
        n_jobs=est.n_jobs,
        precision=est.precision,
        verbose=est.verbose,
    )
