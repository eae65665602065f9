"""The ``keras.applications`` CNNs that the reference solution used, and a few more.

``weights="imagenet"`` lets Keras download the official file (online users);
a local weights file path works offline; ``weights=None`` builds random
weights (tests).  The classifier is always built too, without its softmax, so
one forward pass yields both the pooled embedding and the ImageNet logits.
"""

from __future__ import annotations

import os

from ._registry import Backbone, register_backbone

# name -> (keras.applications constructor, input size, embedding dim, preprocessing)
KERAS_APPLICATIONS = {
    "xception": ("Xception", 299, 2048, "tf"),
    "resnet50": ("ResNet50", 224, 2048, "caffe"),
    "inception_v3": ("InceptionV3", 299, 2048, "tf"),
    "vgg16": ("VGG16", 224, 512, "caffe"),
    "mobilenet_v2": ("MobileNetV2", 224, 1280, "tf"),
    "efficientnet_b0": ("EfficientNetB0", 224, 1280, "raw"),
}


def _builder(constructor, size):
    def build(weights):
        import keras

        app = getattr(keras.applications, constructor)(
            include_top=True,
            weights=weights if weights is None or weights == "imagenet" else os.fspath(weights),
            input_shape=(size, size, 3),
            classifier_activation=None,
        )
        pools = [layer for layer in app.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D)]
        if pools:
            embedding = pools[-1].output
        else:  # VGG: average the last conv block, as include_top=False, pooling="avg" would
            embedding = keras.layers.GlobalAveragePooling2D(name="avg_pool")(app.get_layer("block5_pool").output)
        return keras.Model(app.inputs, [embedding, app.output], name=app.name)

    return build


for _name, (_constructor, _size, _dim, _prep) in KERAS_APPLICATIONS.items():
    register_backbone(
        Backbone(
            name=_name,
            input_size=_size,
            embedding_dim=_dim,
            preprocessing=_prep,
            build=_builder(_constructor, _size),
            imagenet_id=f"keras.applications.{_constructor}:imagenet",
            description=f"keras.applications.{_constructor} (weights='imagenet' downloads them)",
        )
    )
