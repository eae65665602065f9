"""The OpenVINO bf16 forward pass: rows near the Keras model's, converted once, checked before use."""

import shutil

import numpy as np
import pytest

from skcatdog import _engine, config_context
from skcatdog._cpu import cpu_has_bf16
from skcatdog._runtimes import ConversionMismatch, openvino
from skcatdog.backbones import get_backbone

from .._helpers import random_images

pytestmark = pytest.mark.skipif(
    not openvino.available(), reason='OpenVINO is not installed (pip install "skcatdog[cpu-bf16]") or not on TensorFlow'
)


def _pixels(n, seed, size=32):
    from PIL import Image

    return np.stack([np.asarray(Image.fromarray(a).resize((size, size))) for a in random_images(n, seed)])


def _model():
    with config_context(cpu_runtime="keras"):
        return _engine.get_runner("tiny_test", None, "float32").model


def _forward(directory=None, name="fp", **kw):
    return openvino.Forward(_model(), get_backbone("tiny_test"), name=name, directory=directory, **kw)


@pytest.fixture(scope="module", autouse=True)
def convert_each_model_once():
    """A conversion takes seconds on a small CI host: these tests, which check what happens around
    it (the check, the disk), share one per Keras model; compiling stays per test."""
    real, done = openvino._convert, {}

    def convert(model, size):
        if id(model) not in done:
            done[id(model)] = (model, real(model, size))
        return done[id(model)][1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(openvino, "_convert", convert)
        yield


@pytest.fixture(scope="module")
def bf16():
    return _forward()


@pytest.fixture(scope="module")
def kept(tmp_path_factory):
    """A folder holding one converted model, named "fp-disk"."""
    directory = tmp_path_factory.mktemp("openvino")
    _forward(directory, "fp-disk")
    return directory


def test_rows_are_the_keras_rows_to_bf16_rounding(bf16):
    backbone = get_backbone("tiny_test")
    pixels = _pixels(5, seed=1)
    want = _model().predict_on_batch(pixels)
    got = bf16(pixels)
    assert [g.dtype for g in got] == [np.float32, np.float32]
    assert [g.shape for g in got] == [(5, backbone.embedding_dim), (5, backbone.n_classes)]
    for w, g in zip(want, got, strict=True):
        np.testing.assert_allclose(g, w, rtol=2e-2, atol=2e-2)


def test_padding_past_the_real_images_is_not_returned(bf16):
    pixels = _pixels(4, seed=2)
    embedding, logits = bf16(pixels, 3)
    assert len(embedding) == len(logits) == 3
    np.testing.assert_array_equal(embedding, bf16(pixels[:3])[0])


def test_rows_do_not_depend_on_how_a_batch_is_cut(bf16):
    pixels = _pixels(2 * bf16.step + 3, seed=5)
    whole = bf16(pixels)
    one_by_one = [bf16(pixels[i : i + 1]) for i in range(len(pixels))]
    for k in range(2):
        np.testing.assert_array_equal(whole[k], np.concatenate([rows[k] for rows in one_by_one]))


@pytest.mark.skipif(not cpu_has_bf16(), reason="the CPU has no bf16 instructions (AMX or AVX-512 BF16)")
def test_runs_in_bf16_on_a_bf16_cpu(bf16):
    assert bf16.inference_precision == "bf16"
    assert _forward(precision="float32").inference_precision == "f32"


def test_converted_once_and_kept_on_disk(kept, bf16):
    path = openvino.model_dir(kept, "fp-disk")
    assert (path / "model.xml").is_file() and (path / "model.bin").is_file()
    mtime = (path / "model.bin").stat().st_mtime_ns
    again = _forward(kept, "fp-disk")
    assert (path / "model.bin").stat().st_mtime_ns == mtime
    pixels = _pixels(2, seed=3)
    np.testing.assert_array_equal(again(pixels)[1], bf16(pixels)[1])


def test_a_damaged_or_foreign_model_on_disk_is_converted_afresh(kept, tmp_path):
    path = openvino.model_dir(tmp_path, "fp-disk")
    shutil.copytree(openvino.model_dir(kept, "fp-disk"), path)
    (path / "model.bin").write_bytes(b"not a model")
    forward = _forward(tmp_path, "fp-disk")
    assert (path / "model.bin").stat().st_size > len(b"not a model")
    pixels = _pixels(2, seed=4)
    np.testing.assert_allclose(forward(pixels)[0], _model().predict_on_batch(pixels)[0], rtol=2e-2, atol=2e-2)


def test_a_conversion_that_does_not_match_keras_is_refused(monkeypatch, tmp_path):
    real = openvino.Forward.__call__
    monkeypatch.setattr(openvino.Forward, "__call__", lambda self, *a: [-x for x in real(self, *a)])
    with pytest.raises(ConversionMismatch, match="does not match"):
        _forward(tmp_path, "fp-mismatch")
    assert not openvino.model_dir(tmp_path, "fp-mismatch").exists()  # nothing kept for later processes


def test_the_engine_keeps_its_converted_model_beside_the_cache(isolated_cache):
    _engine.clear_runners()
    assert _engine.get_runner("tiny_test", None, "bfloat16").runtime == "openvino"
    name = _engine.fingerprint("tiny_test", None, "bfloat16")
    assert (openvino.model_dir(isolated_cache / "openvino", name) / "model.xml").is_file()
