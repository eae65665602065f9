"""The backbone registry: one place that says how to build, feed and name each CNN."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .._store import digest_trusted

__all__ = ["Backbone", "register_backbone", "get_backbone", "available_backbones", "PREPROCESSING"]

#: How raw 0-255 float RGB pixels become the network's input: mode -> f(x, ops),
#: ops being ``keras.ops``.  The engine runs it inside the compiled model.
PREPROCESSING = {
    "lite": lambda x, ops: (x - 127.0) / 128.0,
    "tf": lambda x, ops: x / 127.5 - 1.0,
    # RGB -> BGR, minus the ImageNet mean in BGR order.
    "caffe": lambda x, ops: ops.flip(x, axis=-1) - ops.convert_to_tensor([103.939, 116.779, 123.68]),
    "raw": lambda x, ops: x,  # the network rescales itself
}


@dataclass(frozen=True)
class Backbone:
    """How to build one ImageNet CNN.

    Parameters
    ----------
    name : str
        Registry key, e.g. ``"efficientnet_lite2"``.
    input_size : int
        Square input side in pixels.
    embedding_dim : int
        Length of the pooled embedding.
    preprocessing : str
        A key of :data:`PREPROCESSING`.
    build : callable
        ``build(weights)`` returns a Keras model mapping a preprocessed float
        batch to ``[embedding, logits]``. ``weights`` is ``"imagenet"``, a
        local file path, or ``None`` (random weights).
    imagenet_id : str
        Identifies the ``"imagenet"`` weights in cache keys (e.g. the
        checkpoint file name, which carries its hash).
    n_classes : int
        Number of logits (1000 for ImageNet).
    revision : str
        Part of every cache key: change it when ``build`` starts giving other
        numbers for the same weights (a new graph, a folded layer).
    """

    name: str
    input_size: int
    embedding_dim: int
    preprocessing: str
    build: Callable = field(repr=False, compare=False)
    imagenet_id: str = "imagenet"
    n_classes: int = 1000
    description: str = ""
    revision: str = "1"

    def weights_identity(self, weights):
        """A string that changes whenever the weights would give other outputs."""
        if weights is None:
            return "random-seed0"
        if isinstance(weights, str) and weights == "imagenet":
            return self.imagenet_id
        return "file:" + _file_digest(os.fspath(weights))

    def build_model(self, weights):
        """Build the network with ``weights`` loaded (deterministic when random)."""
        if weights is not None and not (isinstance(weights, str) and weights == "imagenet"):
            path = os.fspath(weights)
            if not os.path.isfile(path):
                raise FileNotFoundError(f"weights file {path!r} does not exist")
        model = self.build(weights)
        if weights is None:
            _deterministic_init(model)
        return model


_REGISTRY: dict[str, Backbone] = {}
_DIGESTS: dict[tuple, str] = {}


def _file_digest(path):
    """The digest of a weights file, remembered by everything that identifies its content
    without reading it. ctime is part of the key: a file rewritten in place may keep its
    size and mtime (``os.utime``), but the kernel stamps its ctime on every write. A file
    changed within the racy window is hashed again on every call (see
    :func:`skcatdog._store.digest_trusted`: a write in the same timestamp tick as the read
    would leave the same key)."""
    started = time.time()  # before the stat
    try:
        st = os.stat(path)
    except OSError as exc:
        raise FileNotFoundError(f"weights file {path!r} does not exist") from exc
    key = (os.path.abspath(path), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)
    digest = _DIGESTS.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()[:32]
        if digest_trusted(st, started):
            _DIGESTS[key] = digest
    return digest


def _deterministic_init(model):
    # Keras draws random kernels from a global seed; re-draw them from a fixed
    # one so that "random weights" are the same network in every process and
    # on every backend, and their cache entries stay valid.
    rng = np.random.default_rng(0)
    for var in model.weights:
        shape = tuple(var.shape)
        if len(shape) >= 2:
            fan_in = int(np.prod(shape[:-1])) if len(shape) > 2 else shape[0]
            limit = np.sqrt(3.0 / max(fan_in, 1))
            var.assign(rng.uniform(-limit, limit, size=shape).astype(np.float32))


def register_backbone(backbone, *, replace=False):
    """Add a backbone to the registry so every estimator can use it by name.

    Parameters
    ----------
    backbone : Backbone
        Its ``name`` becomes the name estimators accept as ``backbone=``;
        its ``preprocessing`` must be one the engine knows.
    replace : bool, default=False
        Allow overwriting an existing name.

    Returns
    -------
    backbone : Backbone
        The registered backbone, so that a module can write
        ``MINE = register_backbone(Backbone(...))``.

    Raises
    ------
    TypeError
        If ``backbone`` is not a :class:`Backbone`.
    ValueError
        For an unknown preprocessing, or a name already taken without
        ``replace=True``.
    """
    if not isinstance(backbone, Backbone):
        raise TypeError(f"expected a Backbone, got {type(backbone).__name__}")
    if backbone.preprocessing not in PREPROCESSING:
        raise ValueError(f"unknown preprocessing {backbone.preprocessing!r}; choose from {sorted(PREPROCESSING)}")
    if backbone.name in _REGISTRY and not replace:
        raise ValueError(f"a backbone named {backbone.name!r} is already registered")
    _REGISTRY[backbone.name] = backbone
    return backbone


def get_backbone(name):
    """Look a backbone up by name.

    Parameters
    ----------
    name : str or Backbone
        A registered name; a :class:`Backbone` is returned as it is.

    Returns
    -------
    backbone : Backbone
        The architecture's description: input size, embedding dimension,
        preprocessing and how to build it.

    Raises
    ------
    ValueError
        If no backbone has that name; the message lists the known ones.
    """
    if isinstance(name, Backbone):
        return name
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown backbone {name!r}; available: {', '.join(available_backbones())}") from None


def available_backbones():
    """List the names of all registered backbones.

    Returns
    -------
    names : list of str
        Sorted; each one is accepted as ``backbone=`` by the estimators.

    Examples
    --------
    >>> from skcatdog import available_backbones
    >>> "efficientnet_lite2" in available_backbones()
    True
    """
    return sorted(_REGISTRY)
