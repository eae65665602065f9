"""skcatdog: transfer-learning image classification as ordinary scikit-learn."""

# imbalanced-learn's pipeline runs samplers (steps that drop training rows,
# like ImageNetOutlierFilter) during fit only; for every other step it is
# scikit-learn's Pipeline.
from imblearn.pipeline import Pipeline, make_pipeline

from ._cache import default_cache_dir
from ._images import ImageLoadError
from ._version import __version__
from .backbones import available_backbones, get_backbone, register_backbone
from .clipped import ClippedClassifier
from .datasets import load_image_folder
from .embedding import KerasEmbeddingTransformer
from .outlier_filter import ImageNetOutlierFilter

__all__ = [
    "ClippedClassifier",
    "ImageLoadError",
    "ImageNetOutlierFilter",
    "KerasEmbeddingTransformer",
    "Pipeline",
    "__version__",
    "available_backbones",
    "default_cache_dir",
    "get_backbone",
    "load_image_folder",
    "make_pipeline",
    "register_backbone",
]
