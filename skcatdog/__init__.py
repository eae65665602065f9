"""skcatdog: transfer-learning image classification as ordinary scikit-learn."""

from ._cache import default_cache_dir
from ._config import config_context, get_config, set_config
from ._images import ImageCrop, ImageLoadError
from ._version import __version__
from .backbones import available_backbones, get_backbone, register_backbone
from .clipped import ClippedClassifier
from .datasets import fetch_dogs_vs_cats, fetch_oxford_pets, load_image_csv, load_image_folder
from .embedding import KerasEmbeddingTransformer
from .metrics import kaggle_log_loss, kaggle_log_loss_scorer, make_novelty_scorer, novelty_roc_auc_score
from .novelty import FitOnInliers
from .outlier_filter import ImageNetOutlierFilter

__all__ = [
    "ClippedClassifier",
    "FitOnInliers",
    "ImageCrop",
    "ImageLoadError",
    "ImageNetOutlierFilter",
    "KerasEmbeddingTransformer",
    "Pipeline",
    "__version__",
    "available_backbones",
    "config_context",
    "default_cache_dir",
    "fetch_dogs_vs_cats",
    "fetch_oxford_pets",
    "get_backbone",
    "get_config",
    "kaggle_log_loss",
    "kaggle_log_loss_scorer",
    "load_image_csv",
    "load_image_folder",
    "make_novelty_scorer",
    "make_pipeline",
    "novelty_roc_auc_score",
    "register_backbone",
    "set_config",
]


def __getattr__(name):
    # imbalanced-learn's pipeline runs samplers (steps that drop training rows,
    # like ImageNetOutlierFilter) during fit only; for every other step it is
    # scikit-learn's Pipeline. Imported on first use: importing imblearn
    # imports TensorFlow, which `import skcatdog` should not pay for.
    if name in ("Pipeline", "make_pipeline"):
        from imblearn import pipeline

        return getattr(pipeline, name)
    raise AttributeError(f"module 'skcatdog' has no attribute {name!r}")
