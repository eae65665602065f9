"""What the converting runtimes share: the check of a conversion against the Keras model."""

import numpy as np
import pytest

from skcatdog._runtimes import ConversionMismatch, common
from skcatdog.backbones import get_backbone


class _Model:
    """Stands for a Keras model: fixed outputs for any batch."""

    def __init__(self, *outputs):
        self.outputs = outputs

    def predict_on_batch(self, batch):
        return [o[: len(batch)] for o in self.outputs]


def _outputs(rng, shift=0.0):
    return rng.normal(size=(2, 8)).astype(np.float32) + shift, rng.normal(size=(2, 1000)).astype(np.float32)


def test_a_conversion_within_tolerance_passes():
    want = _outputs(np.random.default_rng(0))
    model = _Model(*want)
    backbone = get_backbone("tiny_test")
    common.check_against_keras(lambda b: [w + 1e-6 for w in want], model, backbone, runtime="X", tolerance=1e-4)
    common.check_against_keras(lambda b: [w * 1.001 for w in want], model, backbone, runtime="X", min_cosine=0.98)


@pytest.mark.parametrize(
    "change, limits, message",
    [
        (lambda w: w + 1e-2, {"tolerance": 1e-4}, "max difference"),
        (lambda w: w * np.nan, {"tolerance": 1e-4}, "max difference"),
        (lambda w: -w, {"min_cosine": 0.98}, "cosine similarity"),
        (lambda w: w[:, :3], {"tolerance": 1e-4}, "outputs of shape"),
    ],
    ids=["difference", "nan", "direction", "shape"],
)
def test_a_conversion_that_differs_is_refused(change, limits, message):
    want = _outputs(np.random.default_rng(1))
    with pytest.raises(ConversionMismatch, match=f"the X conversion of tiny_test.*{message}"):
        common.check_against_keras(
            lambda b: [change(w) for w in want], _Model(*want), get_backbone("tiny_test"), runtime="X", **limits
        )


def test_threads_follow_tensorflows_setting(monkeypatch):
    import tensorflow as tf

    monkeypatch.setattr(tf.config.threading, "get_intra_op_parallelism_threads", lambda: 3)
    assert common.threads() == 3
    monkeypatch.setattr(tf.config.threading, "get_intra_op_parallelism_threads", lambda: 0)
    assert common.threads() >= 1
