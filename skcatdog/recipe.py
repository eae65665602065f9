"""The default model: the one ``skcatdog train``, the examples and the benchmarks all build."""

from __future__ import annotations

import numbers
import os

from . import _defaults
from ._engine import DECODERS
from ._validation import Interval, StrOptions, validate_params
from .backbones import DEFAULT_BACKBONE

__all__ = ["DEFAULT_C", "DEFAULT_VIEWS", "make_default_pipeline"]

#: The values of LogisticRegression's ``C`` searched by the inner grid search: ``np.logspace(-2, 1, 7)``, rounded.
DEFAULT_C = _defaults.DEFAULT_C
#: The embedder's views (see :class:`~skcatdog.KerasEmbeddingTransformer`).
DEFAULT_VIEWS = _defaults.DEFAULT_VIEWS


@validate_params(
    {
        "backbone": [str, list, tuple],
        "views": [str, list, tuple],
        "C": ["array-like"],
        "cv": [Interval(numbers.Integral, 2, None, closed="left")],
        "standardize": ["boolean"],
        "clip": [Interval(numbers.Real, 0, 0.5, closed="left")],
        "drop_outliers": [Interval(numbers.Integral, 1, 1000, closed="both"), None],
        "cache": [str, os.PathLike, None],
        "batch_size": [Interval(numbers.Integral, 1, None, closed="left"), StrOptions({"auto"})],
        "decoder": [StrOptions(set(DECODERS))],
        "verbose": ["verbose"],
        "n_jobs": [numbers.Integral, None],
    },
    prefer_skip_nested_validation=True,
)
def make_default_pipeline(
    *,
    backbone=DEFAULT_BACKBONE,
    views=DEFAULT_VIEWS,
    C=DEFAULT_C,
    cv=5,
    standardize=False,
    clip=0.0,
    drop_outliers=None,
    cache="auto",
    batch_size="auto",
    decoder="auto",
    verbose=0,
    n_jobs=None,
):
    """Build skcatdog's default image classifier: embeddings, then a tuned LogisticRegression.

    The steps are an optional :class:`~skcatdog.ImageNetOutlierFilter`, a
    :class:`~skcatdog.KerasEmbeddingTransformer`, an optional
    ``StandardScaler``, and ``GridSearchCV(LogisticRegression(), {"C": C},
    scoring="neg_log_loss")`` over ``cv`` shuffled stratified folds, optionally
    wrapped in :class:`~skcatdog.ClippedClassifier`. The pipeline takes image
    paths (or ``HxWx3`` uint8 arrays) and labels.

    Parameters
    ----------
    backbone : str or list of str, default="efficientnet_lite2"
        Backbone name(s) for the embedder (and the outlier filter); several
        are concatenated.
    views : str or tuple of str, default=("crop", "full")
        The embedder's views, embeddings averaged.
    C : array-like of float, default=DEFAULT_C
        Values of LogisticRegression's ``C`` for the inner grid search
        (``np.logspace(-2, 1, 7)`` to three digits).
    cv : int, default=5
        Folds of the inner grid search (``StratifiedKFold(cv, shuffle=True,
        random_state=0)``). Each class needs at least ``cv`` photos in the
        data the pipeline is fitted on.
    standardize : bool, default=False
        Put a ``StandardScaler`` before the classifier. It helps some
        ensembles of backbones on thousands of photos; on a few dozen the
        per-feature variances are noise, hence not the default.
    clip : float in [0, 0.5), default=0.0
        With ``clip > 0``, wrap the classifier in
        ``ClippedClassifier(eps=clip)``.
    drop_outliers : int in [1, 1000] or None, default=None
        With an int ``K``, start with ``ImageNetOutlierFilter(top_k=K)``,
        which drops training photos with no class of their label's kind in
        their top ``K`` ImageNet classes. ``None`` keeps every photo.
    cache : "auto", str, path-like or None, default="auto"
        The embedding cache (see :class:`~skcatdog.KerasEmbeddingTransformer`).
    batch_size : int or "auto", default="auto"
        Images per forward pass (see :class:`~skcatdog.KerasEmbeddingTransformer`).
    decoder : {"auto", "pillow", "gpu"}, default="auto"
        What decodes the photos (see :class:`~skcatdog.KerasEmbeddingTransformer`).
    verbose : int, default=0
        ``1`` shows progress bars while embedding.
    n_jobs : int or None, default=None
        ``n_jobs`` of the grid search.

    Returns
    -------
    pipeline : imblearn.pipeline.Pipeline
        Unfitted. Step names are those of :func:`skcatdog.make_pipeline`
        (``"imagenetoutlierfilter"``, ``"kerasembeddingtransformer"``,
        ``"standardscaler"``, ``"gridsearchcv"`` or ``"clippedclassifier"``).

    See Also
    --------
    skcatdog.make_pipeline : Build another pipeline from the same steps.

    Examples
    --------
    >>> from skcatdog import make_default_pipeline
    >>> pipe = make_default_pipeline(backbone="efficientnet_lite0", drop_outliers=50, cache=None)
    >>> [name for name, _ in pipe.steps]
    ['imagenetoutlierfilter', 'kerasembeddingtransformer', 'gridsearchcv']
    >>> pipe[-1].param_grid["C"][:3]
    [0.01, 0.0316, 0.1]
    """
    # imbalanced-learn's make_pipeline, the one skcatdog exports: an outlier filter drops rows during fit only.
    from imblearn.pipeline import make_pipeline
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold
    from sklearn.preprocessing import StandardScaler

    from .clipped import ClippedClassifier
    from .embedding import KerasEmbeddingTransformer
    from .outlier_filter import ImageNetOutlierFilter

    backbone = backbone if isinstance(backbone, str) else list(backbone)
    views = (views,) if isinstance(views, str) else tuple(views)
    common = dict(backbone=backbone, cache=cache, batch_size=batch_size, decoder=decoder, verbose=verbose)
    steps = []
    if drop_outliers is not None:
        steps.append(ImageNetOutlierFilter(top_k=drop_outliers, **common))
    steps.append(KerasEmbeddingTransformer(views=views, **common))
    if standardize:
        steps.append(StandardScaler())
    clf = GridSearchCV(
        LogisticRegression(max_iter=2000),
        {"C": [float(c) for c in C]},
        cv=StratifiedKFold(cv, shuffle=True, random_state=0),
        scoring="neg_log_loss",
        n_jobs=n_jobs,
    )
    steps.append(ClippedClassifier(clf, eps=clip) if clip else clf)
    return make_pipeline(*steps)
