"""The LiteRT (XNNPACK) float32 CPU forward pass: same rows as Keras, checked before use."""

import numpy as np
import pytest

from skcatdog import _engine, config_context
from skcatdog._runtimes import ConversionMismatch, litert

from .._helpers import needs_shared, random_images

pytestmark = pytest.mark.skipif(
    not litert.available(), reason="no LiteRT interpreter (pip install ai-edge-litert) or not on TensorFlow"
)


def _rows(runtime, backbone="tiny_test", weights=None, items=None):
    with config_context(cpu_runtime=runtime):
        runner = _engine.get_runner(backbone, weights, "float32")
        assert runner.runtime == runtime
        return _engine.embed(items or random_images(6, seed=4), backbone, weights, precision="float32", cache=None)


def test_litert_rows_equal_keras_rows():
    lite, keras_rows = _rows("litert"), _rows("keras")
    np.testing.assert_allclose(lite.embeddings, keras_rows.embeddings, atol=1e-4, rtol=0)
    np.testing.assert_allclose(lite.logits, keras_rows.logits, atol=1e-4, rtol=0)


def test_both_runtimes_share_cache_rows(isolated_cache, forward_count):
    images = random_images(3, seed=2)
    with config_context(cpu_runtime="litert"):
        first = _engine.embed(images, "tiny_test", None, precision="float32")
    with config_context(cpu_runtime="keras"):
        again = _engine.embed(images, "tiny_test", None, precision="float32")
    assert forward_count() == 3
    np.testing.assert_array_equal(first.embeddings, again.embeddings)


def test_the_converted_model_is_kept_in_the_folder_the_engine_names(isolated_cache):
    _engine.clear_runners()
    _rows("litert")
    path = litert.model_file(isolated_cache / "litert", _engine.fingerprint("tiny_test", None, "float32"))
    assert path.stat().st_size > 1000


def test_without_a_folder_nothing_is_kept(isolated_cache):
    from skcatdog.backbones import get_backbone

    with config_context(cpu_runtime="keras"):
        model = _engine.get_runner("tiny_test", None, "float32").model
    forward = litert.Forward(model, get_backbone("tiny_test"), name="fp-nowhere", directory=None)
    assert forward.flat and not isolated_cache.exists()


def test_a_damaged_converted_model_is_replaced(isolated_cache):
    path = litert.model_file(isolated_cache / "litert", _engine.fingerprint("tiny_test", None, "float32"))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a flatbuffer")
    _engine.clear_runners()
    good = _rows("litert")
    np.testing.assert_allclose(good.embeddings, _rows("keras").embeddings, atol=1e-4)
    assert path.stat().st_size > 1000


def test_a_conversion_that_disagrees_with_keras_is_refused(monkeypatch):
    real = litert.Forward.__call__
    monkeypatch.setattr(litert.Forward, "__call__", lambda self, *a: [x + 1 for x in real(self, *a)])
    _engine.clear_runners()
    with config_context(cpu_runtime="litert"), pytest.raises(ConversionMismatch, match="does not match"):
        _engine.get_runner("tiny_test", None, "float32")
    with config_context(cpu_runtime="auto"), pytest.warns(RuntimeWarning, match="runs on Keras instead"):
        assert _engine.get_runner("tiny_test", None, "float32").runtime == "keras"


@pytest.mark.slow
@needs_shared
def test_real_network_rows_agree_to_the_batchnorm_folding_tolerance():
    from .._helpers import TRAIN

    photos = sorted(TRAIN.glob("*/*.jpg"))[:8]
    items = [str(p) for p in photos]
    lite = _rows("litert", "efficientnet_lite0", "imagenet", items)
    keras_rows = _rows("keras", "efficientnet_lite0", "imagenet", items)
    np.testing.assert_allclose(lite.embeddings, keras_rows.embeddings, atol=1e-4, rtol=0)
    np.testing.assert_allclose(lite.logits, keras_rows.logits, atol=1e-4 * np.abs(keras_rows.logits).max(), rtol=0)


def test_rows_do_not_depend_on_how_many_images_each_invoke_takes():
    with config_context(cpu_runtime="litert"):
        runner = _engine.get_runner("tiny_test", None, "float32")
    lite, size = runner.forward_pass, runner.model.input_shape[1]
    batch = np.stack(random_images(7, seed=5, size=(size, size)))
    step, invokes = lite.step, []
    real_invoke = lite.interpreter.invoke
    try:
        lite.interpreter.invoke = lambda: invokes.append(1) or real_invoke()
        rows = {}
        for count in (1, 3, 7):
            lite.set_step(count)
            invokes.clear()
            rows[count] = lite(batch, 5)  # the last 2 are padding
            assert len(invokes) == -(-5 // count), "padding past n_real was computed"
    finally:
        lite.set_step(step)
        lite.interpreter.invoke = real_invoke
    for got in rows.values():
        for have, want in zip(got, rows[7], strict=True):
            assert have.shape[0] == 5
            np.testing.assert_allclose(have, want, rtol=1e-6, atol=1e-6)
