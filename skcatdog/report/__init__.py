"""Where a photo classifier fails, as a page to read and a notebook output to look at.

:func:`training_report` cross-validates a classifier once and ranks the
photos it gets wrong, the most confident mistake first, next to their top
ImageNet classes and what :func:`skcatdog.find_issues` says of them;
:func:`prediction_report` shows new photos, the least confident first. Both
write one self-contained HTML page and show themselves in Jupyter with the
photos' thumbnails.
"""

from .._html import PhotoTable
from ._build import prediction_report, training_report
from ._objects import PredictionReport, TrainingReport, check_report_path

__all__ = [
    "PhotoTable",
    "PredictionReport",
    "TrainingReport",
    "check_report_path",
    "prediction_report",
    "training_report",
]
