"""skcatdog: transfer-learning image classification as ordinary scikit-learn."""

# ``import skcatdog`` loads none of the names below until one is used (PEP 562): the
# engine's decoding processes import ``skcatdog._images`` and need only NumPy and
# Pillow, not scikit-learn, pandas and SciPy (over a second and 200 MB per worker,
# and a many-core host starts one per core). Names are imported from here, and
# submodules reached as attributes, as from any package.
import importlib
from typing import TYPE_CHECKING

from ._version import __version__

#: Where each public name is defined. imbalanced-learn's Pipeline runs samplers (steps
#: that drop training rows, like ImageNetOutlierFilter) during fit only; for every
#: other step it is scikit-learn's Pipeline.
_LOCATIONS = {
    "Pipeline": "imblearn.pipeline",
    "make_pipeline": "imblearn.pipeline",
    "config_context": "skcatdog._config",
    "get_config": "skcatdog._config",
    "set_config": "skcatdog._config",
    "ImageCrop": "skcatdog._images",
    "ImageLoadError": "skcatdog._images",
    "default_cache_dir": "skcatdog._store",
    "find_issues": "skcatdog.audit",
    "available_backbones": "skcatdog.backbones",
    "get_backbone": "skcatdog.backbones",
    "register_backbone": "skcatdog.backbones",
    "ClippedClassifier": "skcatdog.clipped",
    "fetch_dogs_vs_cats": "skcatdog.datasets",
    "fetch_oxford_pets": "skcatdog.datasets",
    "load_image_csv": "skcatdog.datasets",
    "load_image_folder": "skcatdog.datasets",
    "KerasEmbeddingTransformer": "skcatdog.embedding",
    "kaggle_log_loss": "skcatdog.metrics",
    "kaggle_log_loss_scorer": "skcatdog.metrics",
    "make_novelty_scorer": "skcatdog.metrics",
    "novelty_roc_auc_score": "skcatdog.metrics",
    "FitOnInliers": "skcatdog.novelty",
    "ImageNetOutlierFilter": "skcatdog.outlier_filter",
    "make_default_pipeline": "skcatdog.recipe",
    "prediction_report": "skcatdog.report",
    "training_report": "skcatdog.report",
    "show_versions": "skcatdog._show_versions",
}

#: Public submodules, reachable as attributes (``skcatdog.audit``) without importing them first.
_SUBMODULES = (
    "active",
    "audit",
    "backbones",
    "cli",
    "clipped",
    "datasets",
    "distributed",
    "embedding",
    "imagenet",
    "metrics",
    "model_files",
    "neighbours",
    "novelty",
    "outlier_filter",
    "recipe",
    "report",
)

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
    "prediction_report",
    "register_backbone",
    "set_config",
    "show_versions",
    "training_report",
]


def __getattr__(name):
    if name in _LOCATIONS:
        value = getattr(importlib.import_module(_LOCATIONS[name]), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f"{__name__}.{name}")
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # found once: later lookups are plain attribute reads
    return value


def __dir__():
    return sorted({*globals(), *__all__, *_SUBMODULES})


if TYPE_CHECKING:  # what type checkers and editors see
    from imblearn.pipeline import Pipeline, make_pipeline

    from ._config import config_context, get_config, set_config
    from ._images import ImageCrop, ImageLoadError
    from ._show_versions import show_versions
    from ._store import default_cache_dir
    from .audit import find_issues
    from .backbones import available_backbones, get_backbone, register_backbone
    from .clipped import ClippedClassifier
    from .datasets import fetch_dogs_vs_cats, fetch_oxford_pets, load_image_csv, load_image_folder
    from .embedding import KerasEmbeddingTransformer
    from .metrics import kaggle_log_loss, kaggle_log_loss_scorer, make_novelty_scorer, novelty_roc_auc_score
    from .novelty import FitOnInliers
    from .outlier_filter import ImageNetOutlierFilter
    from .recipe import make_default_pipeline
    from .report import prediction_report, training_report
