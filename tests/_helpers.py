"""What tests import: the shared photos' folders, the tiny random-weights backbone, random images.

Fixtures stay in ``conftest.py``, which pytest loads itself; test modules (and
child processes that need the ``tiny_test`` backbone registered, as an installed
plugin would register it) import this module instead.
"""

import os
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np
import pytest

from skcatdog.backbones import Backbone, register_backbone

SHARED = Path(__file__).resolve().parents[2] / "shared"
TRAIN = SHARED / "data" / "dogs-vs-cats" / "train"
OUTLIERS = SHARED / "data" / "dogs-vs-cats" / "outliers"

needs_shared = pytest.mark.skipif(
    not TRAIN.is_dir(), reason=f"the shared Dogs vs Cats photos are not at {TRAIN} (../shared beside the checkout)"
)


def _build_tiny(weights):
    import keras

    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu")(inputs)
    embedding = keras.layers.GlobalAveragePooling2D()(x)
    logits = keras.layers.Dense(1000)(embedding)
    return keras.Model(inputs, [embedding, logits])


TINY = register_backbone(
    Backbone(name="tiny_test", input_size=32, embedding_dim=8, preprocessing="lite", build=_build_tiny),
    replace=True,
)


def _build_tiny_fixed(weights):
    # The same network in every process for any weights, "imagenet" included: for callers that
    # always ask for ImageNet weights (find_issues) and compare processes.
    model = _build_tiny(weights)
    rng = np.random.default_rng(0)
    for var in model.weights:
        if len(var.shape) >= 2:
            var.assign(rng.uniform(-0.5, 0.5, size=tuple(var.shape)).astype(np.float32))
    return model


TINY_FIXED = register_backbone(
    Backbone(
        name="tiny_fixed",
        input_size=32,
        embedding_dim=8,
        preprocessing="lite",
        build=_build_tiny_fixed,
        imagenet_id="tiny-fixed-seed0",
    ),
    replace=True,
)


def tiny_transformer(**params):
    """The tiny random-weights transformer, with ``params`` (views, cache...) on top."""
    from skcatdog import KerasEmbeddingTransformer

    return KerasEmbeddingTransformer(**{"backbone": "tiny_test", "weights": None, **params})


def random_images(n, seed=0, size=(40, 30)):
    """``n`` random ``HxWx3`` uint8 images (``size`` is rows, columns), the same for the same ``seed``."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, size=(*size, 3), dtype=np.uint8) for _ in range(n)]
