"""The ImageNet-1k class index, shipped with the package (Keras downloads its own).

Class ``i`` of every ImageNet checkpoint is the ``i``-th WordNet id in sorted
order; ``data/imagenet_class_index.json`` is generated offline by
``tools/make_imagenet_index.py``.
"""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources

import numpy as np
from scipy.special import softmax

__all__ = ["class_index", "wnids", "class_names", "decode_predictions"]


@lru_cache(maxsize=1)
def class_index():
    """Map each of the 1000 ImageNet class indices to its WordNet id and name.

    Returns
    -------
    index : dict of int to (str, str)
        ``{index: (wnid, name)}``.
    """
    text = resources.files("skcatdog").joinpath("data/imagenet_class_index.json").read_text(encoding="utf-8")
    return {int(i): (entry[0], entry[1]) for i, entry in json.loads(text).items()}


def wnids():
    """List the 1000 WordNet ids, in class order.

    Returns
    -------
    wnids : list of str
        ``"n01440764"``, ...: the synset of each ImageNet class.
    """
    index = class_index()
    return [index[i][0] for i in range(len(index))]


def class_names():
    """List the 1000 human-readable class names, in class order.

    Returns
    -------
    names : list of str
        ``"tench"``, ``"goldfish"``, ...
    """
    index = class_index()
    return [index[i][1] for i in range(len(index))]


def decode_predictions(logits, top=5):
    """Top classes per row, like ``keras.applications.imagenet_utils.decode_predictions``.

    Parameters
    ----------
    logits : array-like of shape (n_samples, 1000)
        Logits or probabilities.
    top : int, default=5
        How many classes per row, most probable first.

    Returns
    -------
    list of list of (wnid, name, probability)
        Probabilities are the softmax of ``logits``.
    """
    logits = np.asarray(logits, dtype=np.float64)
    if logits.ndim != 2 or logits.shape[1] != 1000:
        raise ValueError(f"expected logits of shape (n_samples, 1000), got {logits.shape}")
    proba = softmax(logits, axis=1)
    index = class_index()
    order = np.argsort(-proba, axis=1)[:, :top]
    return [[(*index[int(j)], float(p[j])) for j in row] for p, row in zip(proba, order, strict=True)]
