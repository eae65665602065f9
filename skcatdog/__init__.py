"""skcatdog: transfer-learning image classification as ordinary scikit-learn."""

# imbalanced-learn's Pipeline runs samplers (steps that drop training rows, like
# ImageNetOutlierFilter) during fit only; for every other step it is scikit-learn's
# Pipeline. Importing it loads neither TensorFlow nor Keras (imbalanced-learn 0.14;
# checked with `python -X importtime -c "import skcatdog"`): the network is loaded
# on the first transform.
from imblearn.pipeline import Pipeline, make_pipeline

from ._config import config_context, get_config, set_config
from ._images import ImageCrop, ImageLoadError
from ._store import default_cache_dir
from ._version import __version__
from .audit import find_issues
from .backbones import available_backbones, get_backbone, register_backbone
from .clipped import ClippedClassifier
from .datasets import fetch_dogs_vs_cats, fetch_oxford_pets, load_image_csv, load_image_folder
from .embedding import KerasEmbeddingTransformer
from .metrics import kaggle_log_loss, kaggle_log_loss_scorer, make_novelty_scorer, novelty_roc_auc_score
from .novelty import FitOnInliers
from .outlier_filter import ImageNetOutlierFilter
from .recipe import make_default_pipeline

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
    "find_issues",
    "get_backbone",
    "get_config",
    "kaggle_log_loss",
    "kaggle_log_loss_scorer",
    "load_image_csv",
    "load_image_folder",
    "make_default_pipeline",
    "make_novelty_scorer",
    "make_pipeline",
    "novelty_roc_auc_score",
    "register_backbone",
    "set_config",
]
