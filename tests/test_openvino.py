"""The OpenVINO bf16 forward pass: rows near the Keras model's, converted once, checked before use."""

import numpy as np
import pytest

from skcatdog import _engine
from skcatdog._cpu import cpu_has_bf16
from skcatdog._openvino import BF16Forward, ConversionMismatch, available, model_dir
from skcatdog.backbones import get_backbone

from ._helpers import random_images

pytestmark = pytest.mark.skipif(not available(), reason='OpenVINO is not installed (pip install "skcatdog[cpu-bf16]")')


def _pixels(n, seed, size=32):
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(a).resize((size, size))) for a in random_images(n, seed)])


def _model(backbone="tiny_test", weights=None):
    return _engine.get_runner(backbone, weights, "float32").model


def test_rows_are_the_keras_rows_to_bf16_rounding():
    backbone = get_backbone("tiny_test")
    forward = BF16Forward(_model(), backbone, "fp-rows")
    pixels = _pixels(5, seed=1)
    want = _model().predict_on_batch(pixels)
    got = forward(pixels)
    assert [g.dtype for g in got] == [np.float32, np.float32]
    assert [g.shape for g in got] == [(5, backbone.embedding_dim), (5, backbone.n_classes)]
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-2, atol=2e-2)


def test_padding_past_the_real_images_is_not_returned():
    forward = BF16Forward(_model(), get_backbone("tiny_test"), "fp-padding")
    pixels = _pixels(4, seed=2)
    embedding, logits = forward(pixels, 3)
    assert len(embedding) == len(logits) == 3
    np.testing.assert_array_equal(embedding, forward(pixels[:3])[0])


def test_converted_once_and_kept_on_disk():
    backbone = get_backbone("tiny_test")
    first = BF16Forward(_model(), backbone, "fp-disk")
    path = model_dir("fp-disk")
    assert (path / "model.xml").is_file() and (path / "model.bin").is_file()
    mtime = (path / "model.bin").stat().st_mtime_ns
    again = BF16Forward(_model(), backbone, "fp-disk")
    assert (path / "model.bin").stat().st_mtime_ns == mtime
    pixels = _pixels(2, seed=3)
    np.testing.assert_array_equal(first(pixels)[1], again(pixels)[1])


def test_a_damaged_or_foreign_model_on_disk_is_converted_afresh():
    backbone = get_backbone("tiny_test")
    BF16Forward(_model(), backbone, "fp-damaged")
    path = model_dir("fp-damaged")
    (path / "model.bin").write_bytes(b"not a model")
    forward = BF16Forward(_model(), backbone, "fp-damaged")
    assert (path / "model.bin").stat().st_size > len(b"not a model")
    pixels = _pixels(2, seed=4)
    np.testing.assert_allclose(forward(pixels)[0], _model().predict_on_batch(pixels)[0], rtol=2e-2, atol=2e-2)


def test_a_conversion_that_does_not_match_keras_is_refused(monkeypatch):
    real = BF16Forward.__call__
    monkeypatch.setattr(BF16Forward, "__call__", lambda self, *a: [-x for x in real(self, *a)])
    with pytest.raises(ConversionMismatch, match="does not match"):
        BF16Forward(_model(), get_backbone("tiny_test"), "fp-mismatch")
    assert not model_dir("fp-mismatch").exists()  # nothing kept for later processes


@pytest.mark.skipif(not cpu_has_bf16(), reason="the CPU has no bf16 instructions (AMX or AVX-512 BF16)")
def test_runs_in_bf16_on_a_bf16_cpu():
    forward = BF16Forward(_model(), get_backbone("tiny_test"), "fp-precision")
    assert forward.inference_precision == "bf16"


def test_rows_do_not_depend_on_how_a_batch_is_cut():
    forward = BF16Forward(_model(), get_backbone("tiny_test"), "fp-cuts")
    pixels = _pixels(2 * forward.step + 3, seed=5)
    whole = forward(pixels)
    one_by_one = [forward(pixels[i : i + 1]) for i in range(len(pixels))]
    for k in range(2):
        np.testing.assert_array_equal(whole[k], np.concatenate([rows[k] for rows in one_by_one]))
