"""Defaults and choices that the estimators and the command line share, in a module that imports nothing.

``skcatdog --help`` states them and must answer without loading scikit-learn,
imbalanced-learn or Keras; :mod:`skcatdog.recipe` and
:mod:`skcatdog.outlier_filter` publish them with their reasons.
"""

__all__ = ["DECODERS", "DEFAULT_C", "DEFAULT_TOP_K", "DEFAULT_VIEWS", "DEFAULT_VOTE", "VOTES"]

DEFAULT_C = (0.01, 0.0316, 0.1, 0.316, 1.0, 3.16, 10.0)
DEFAULT_VIEWS = ("crop", "full")
DEFAULT_TOP_K = 16
# How ImageNetOutlierFilter combines several backbones' verdicts.
VOTES = ("any", "all")
DEFAULT_VOTE = "all"
#: What decodes photos: Pillow on the CPU, or nvImageCodec on the GPU ("auto": the GPU where the
#: forward pass runs on one and GPU decoding is installed, else Pillow).
DECODERS = ("auto", "pillow", "gpu")
