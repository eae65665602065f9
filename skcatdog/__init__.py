"""skcatdog: transfer-learning image classification as ordinary scikit-learn."""

from ._cache import default_cache_dir
from ._images import ImageLoadError
from ._version import __version__
from .backbones import available_backbones, get_backbone, register_backbone
from .datasets import load_image_folder
from .embedding import KerasEmbeddingTransformer

__all__ = [
    "ImageLoadError",
    "KerasEmbeddingTransformer",
    "__version__",
    "available_backbones",
    "default_cache_dir",
    "get_backbone",
    "load_image_folder",
    "register_backbone",
]
