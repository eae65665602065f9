"""EfficientNet-Lite: architecture facts, the torch-free checkpoint reader, the ImageNet oracle."""

import pickle

import numpy as np
import pytest

from skcatdog.backbones import get_backbone
from skcatdog.backbones._torch_checkpoint import load_legacy_state_dict
from skcatdog.backbones.efficientnet_lite import _block_args, _round_filters, default_checkpoint


@pytest.mark.parametrize(
    "name,blocks,last_width",
    [("efficientnet_lite0", 16, 320), ("efficientnet_lite1", 21, 320), ("efficientnet_lite2", 21, 352)],
)
def test_block_layout(name, blocks, last_width):
    from skcatdog.backbones.efficientnet_lite import LITE_VARIANTS

    width, depth = LITE_VARIANTS[name][:2]
    args = _block_args(width, depth)
    assert len(args) == blocks
    assert args[0][3] == 32 and args[-1][4] == last_width  # stem stays 32
    assert _round_filters(112, 1.1) == 120 and _round_filters(40, 1.1) == 48


def test_checkpoint_reader_refuses_code(tmp_path):
    # A pickle that would call os.system if a plain unpickler loaded it.
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        for header in (0x1950A86A20F9469CFC6C, 1001, {}):
            pickle.dump(header, f, protocol=2)
        f.write(b"cos\nsystem\n(S'echo pwned'\ntR.")
    with pytest.raises(ValueError, match=r"global os\.system"):
        load_legacy_state_dict(evil)


def test_checkpoint_reader_rejects_other_files(tmp_path):
    junk = tmp_path / "junk.pth"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="not a readable legacy torch checkpoint"):
        load_legacy_state_dict(junk)


@pytest.mark.parametrize("name", ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"])
def test_wheel_checkpoints_match_the_architecture(name):
    state = load_legacy_state_dict(default_checkpoint(name))
    assert state["_fc.weight"].shape == (1000, 1280)
    assert state["_conv_stem.weight"].shape == (32, 3, 3, 3)
    assert state["_conv_stem.weight"].dtype == np.float32


@pytest.mark.slow
def test_chelsea_oracle_with_real_lite0_weights():
    skimage_data = pytest.importorskip("skimage.data")
    from skcatdog._engine import embed
    from skcatdog.imagenet import decode_predictions

    rows = embed([skimage_data.chelsea()], "efficientnet_lite0", view="full", cache=None, precision="float32")
    top = decode_predictions(rows.logits, top=3)[0]
    assert [wnid for wnid, _, _ in top] == ["n02124075", "n02123159", "n02123045"]
    assert top[0][1] == "Egyptian cat"
    assert top[0][2] == pytest.approx(0.79, abs=0.03)
    assert rows.embeddings.shape == (1, 1280) and np.all(rows.embeddings >= 0)  # pooled ReLU6


@pytest.mark.slow
@pytest.mark.parametrize("name", ["efficientnet_lite1", "efficientnet_lite2"])
def test_lite1_and_lite2_also_see_a_cat(name):
    skimage_data = pytest.importorskip("skimage.data")
    from skcatdog._engine import embed

    rows = embed([skimage_data.chelsea()], name, cache=None, precision="float32")
    assert int(np.argmax(rows.logits)) in (281, 282, 285)  # tabby, tiger cat, Egyptian cat
    assert get_backbone(name).input_size == {"efficientnet_lite1": 240, "efficientnet_lite2": 260}[name]


def test_missing_weights_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        get_backbone("efficientnet_lite0").build_model(tmp_path / "nope.pth")


@pytest.mark.slow
def test_folded_batchnorm_matches_the_plain_network():
    from skcatdog.backbones.efficientnet_lite import build_efficientnet_lite, load_torch_weights

    x = np.random.default_rng(0).uniform(-1, 1, (2, 224, 224, 3)).astype(np.float32)
    outputs = []
    for fold in (False, True):
        model = build_efficientnet_lite("efficientnet_lite0", (224, 224, 3), fold_batchnorm=fold)
        load_torch_weights(model, default_checkpoint("efficientnet_lite0"))
        assert any(layer.__class__.__name__ == "BatchNormalization" for layer in model.layers) is not fold
        outputs.append(model.predict_on_batch(x))
    for plain, folded in zip(*outputs, strict=True):
        np.testing.assert_allclose(folded, plain, rtol=1e-4, atol=1e-4)
