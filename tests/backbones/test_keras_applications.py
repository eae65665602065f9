"""The keras.applications backbones: registry entries, two outputs, preprocessing, offline weights."""

import numpy as np
import pytest

from skcatdog._engine import embed
from skcatdog.backbones import available_backbones, get_backbone

APPS = {
    "xception": 2048,
    "resnet50": 2048,
    "inception_v3": 2048,
    "vgg16": 512,
    "mobilenet_v2": 1280,
    "efficientnet_b0": 1280,
}


def test_registry_lists_every_builtin():
    assert set(APPS) | {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"} <= set(available_backbones())
    with pytest.raises(ValueError, match="available: "):
        get_backbone("alexnet")


@pytest.mark.parametrize("name", ["mobilenet_v2", "vgg16", "resnet50"])
def test_random_weights_give_embedding_and_logits(name):
    # vgg16 has no pooling layer of its own; resnet50 uses caffe (BGR) preprocessing.
    image = np.random.default_rng(0).integers(0, 256, (50, 60, 3), dtype=np.uint8)
    rows = embed([image], name, weights=None, cache=None, precision="float32")
    assert rows.embeddings.shape == (1, APPS[name]) and rows.logits.shape == (1, 1000)
    assert np.all(np.isfinite(rows.embeddings))


def test_a_local_weights_file_works_offline(tmp_path):
    spec = get_backbone("mobilenet_v2")
    model = spec.build_model(None)
    path = tmp_path / "mobilenet_v2.weights.h5"
    model.save_weights(path)
    image = np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)
    from_file = embed([image], "mobilenet_v2", weights=path, cache=None, precision="float32")
    random = embed([image], "mobilenet_v2", weights=None, cache=None, precision="float32")
    np.testing.assert_allclose(from_file.logits, random.logits, rtol=1e-4, atol=1e-4)
    assert spec.weights_identity(path).startswith("file:")
