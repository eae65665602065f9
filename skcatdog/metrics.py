"""Scores spelled the scikit-learn way: Kaggle's log-loss, and novelty detection.

Two small pieces, each a metric function plus a scorer for ``scoring=``:

* :func:`kaggle_log_loss` / :data:`kaggle_log_loss_scorer`: the Dogs vs Cats
  leaderboard's log-loss, which clips probabilities to ``[1e-15, 1 - 1e-15]``.
* :func:`novelty_roc_auc_score` / :func:`make_novelty_scorer`: how well an
  outlier detector's normality score (``score_samples``) tells the inlier class
  from everything else (fit the detector with :class:`skcatdog.FitOnInliers`
  to cross-validate it on labelled data).
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.metrics import log_loss, make_scorer, roc_auc_score
from sklearn.utils.validation import check_array, column_or_1d

__all__ = [
    "kaggle_log_loss",
    "kaggle_log_loss_scorer",
    "make_novelty_scorer",
    "novelty_roc_auc_score",
]

KAGGLE_EPS = 1e-15


# --------------------------------------------------------------------------- #
# Kaggle's log-loss
# --------------------------------------------------------------------------- #


def kaggle_log_loss(y_true, y_proba, *, eps=KAGGLE_EPS, labels=None, sample_weight=None):
    """Log-loss as Kaggle's Dogs vs Cats leaderboard computes it.

    Kaggle replaces each submitted probability ``p`` by
    ``max(min(p, 1 - eps), eps)`` with ``eps = 1e-15`` and averages
    ``-log`` of the probability given to the true class. A confidently wrong
    prediction therefore costs ``-log(1e-15) = 34.54`` at most, where
    :func:`sklearn.metrics.log_loss` (which clips at the float64 machine
    epsilon, 2.2e-16) charges 36.04. For probabilities inside
    ``[eps, 1 - eps]`` the two agree.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels, e.g. ``"cat"``/``"dog"`` or ``0``/``1``.
    y_proba : array-like of shape (n_samples,) or (n_samples, n_classes)
        Predicted probabilities. 1-D: the probability of the second of the
        sorted labels (``"dog"`` for ``"cat"``/``"dog"``; Kaggle's submission
        column). 2-D: ``predict_proba`` output, columns in sorted label order
        (a classifier's ``classes_``); rows should sum to one.
    eps : float, default=1e-15
        Probabilities are clipped to ``[eps, 1 - eps]``; ``0 < eps < 0.5``.
    labels : array-like, default=None
        All the labels, when ``y_true`` may not contain them all (a single
        photo, a fold with one class). Passed to
        :func:`sklearn.metrics.log_loss`.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    loss : float
        The mean clipped log-loss (natural logarithm); lower is better.

    See Also
    --------
    kaggle_log_loss_scorer : The same, as a ``scoring=`` object.
    sklearn.metrics.log_loss : The unclipped loss.

    Examples
    --------
    >>> from skcatdog.metrics import kaggle_log_loss
    >>> round(kaggle_log_loss(["cat", "dog"], [0.1, 0.8]), 5)  # P(dog) per photo
    0.16425
    >>> round(kaggle_log_loss(["cat"], [1.0], labels=["cat", "dog"]), 2)  # sure, and wrong
    34.54
    """
    if not isinstance(eps, numbers.Real) or isinstance(eps, bool) or not 0 < eps < 0.5:
        raise ValueError(f"eps must be a number with 0 < eps < 0.5, got {eps!r}")
    # float64 whatever comes in: in float32, 1 - 1e-15 rounds to 1.0 and the
    # clip would not happen.
    y_proba = check_array(y_proba, ensure_2d=False, dtype=np.float64, input_name="y_proba")
    if y_proba.ndim not in (1, 2):
        raise ValueError(f"y_proba must be 1-D or 2-D, got shape {y_proba.shape}")
    if y_proba.size and (y_proba.min() < 0 or y_proba.max() > 1):
        raise ValueError(f"y_proba must lie in [0, 1], got values in [{y_proba.min()}, {y_proba.max()}]")
    if y_proba.ndim == 2:
        # Kaggle rescales each row to sum to one; float32 predict_proba rows
        # (from float32 embeddings) are otherwise off by ~1e-7, which sklearn warns about.
        y_proba = y_proba / np.maximum(y_proba.sum(axis=1, keepdims=True), np.finfo(np.float64).tiny)
    return float(log_loss(y_true, np.clip(y_proba, eps, 1 - eps), labels=labels, sample_weight=sample_weight))


kaggle_log_loss_scorer = make_scorer(kaggle_log_loss, greater_is_better=False, response_method="predict_proba")
kaggle_log_loss_scorer.__doc__ = """Scorer for :func:`kaggle_log_loss`: ``scoring=kaggle_log_loss_scorer``.

Like ``scoring="neg_log_loss"`` it returns the *negated* loss (greater is
better), from the estimator's ``predict_proba``; it equals ``neg_log_loss``
unless a probability is outside ``[1e-15, 1 - 1e-15]``.

Examples
--------
>>> from sklearn.model_selection import cross_val_score
>>> from skcatdog.metrics import kaggle_log_loss_scorer
>>> -cross_val_score(model, paths, labels, scoring=kaggle_log_loss_scorer)  # doctest: +SKIP
"""


# --------------------------------------------------------------------------- #
# Novelty detection
# --------------------------------------------------------------------------- #


def novelty_roc_auc_score(y_true, y_score, *, inlier_label=1, sample_weight=None):
    """ROC AUC of a normality score for telling the inlier class from the rest.

    Outlier detectors (``OneClassSVM``, ``IsolationForest``,
    ``LocalOutlierFactor(novelty=True)``...) score samples with
    ``score_samples`` or ``decision_function``: higher means more normal.
    This is the area under the ROC curve of that score with samples labelled
    ``inlier_label`` as positives and all others as negatives: 1.0 when every
    inlier scores above every other sample, 0.5 for a random score. It is
    the same number as the AUROC of an outlier score (``-y_score``) with
    outliers as positives.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels, e.g. ``"cat"``/``"dog"``, or sklearn's ``1`` (inlier) / ``-1``
        (outlier) convention.
    y_score : array-like of shape (n_samples,)
        Normality scores (higher = more like the inliers).
    inlier_label : int, str or bool, default=1
        The label of the inlier class; every other label is an outlier.
    sample_weight : array-like of shape (n_samples,), default=None
        Sample weights.

    Returns
    -------
    auc : float

    Raises
    ------
    ValueError
        If ``y_true`` has no inliers or only inliers.

    See Also
    --------
    make_novelty_scorer : The same, as a ``scoring=`` object.

    Examples
    --------
    >>> from skcatdog.metrics import novelty_roc_auc_score
    >>> novelty_roc_auc_score(["cat", "cat", "dog", "dog"], [0.9, 0.3, 0.4, 0.1], inlier_label="cat")
    0.75
    """
    y_true = column_or_1d(y_true)
    is_inlier = _equals(y_true, inlier_label)
    if is_inlier.all() or not is_inlier.any():
        found = np.unique(y_true).tolist() if y_true.size else []
        raise ValueError(
            f"novelty_roc_auc_score needs both inliers (label {inlier_label!r}) and other samples; "
            f"y_true holds {found}"
        )
    return float(roc_auc_score(is_inlier, column_or_1d(y_score), sample_weight=sample_weight))


def make_novelty_scorer(inlier_label=1, *, response_method=("score_samples", "decision_function")):
    """Scorer for outlier detectors: :func:`novelty_roc_auc_score` of their scores.

    The returned object is exactly
    ``make_scorer(novelty_roc_auc_score, response_method=response_method,
    inlier_label=inlier_label)``, for ``scoring=`` in ``GridSearchCV``,
    ``cross_val_score`` or ``cross_validate``. It scores any fitted estimator
    with ``score_samples`` (or ``decision_function``), including a ``Pipeline``
    ending in one, against labelled validation data. Greater is better.

    Fitting is not its business: a one-class detector must be fitted on inliers
    only, which ordinary CV folds are not. Wrap the detector (or the whole
    pipeline) in :class:`FitOnInliers` with the same ``inlier_label``.

    Parameters
    ----------
    inlier_label : int, str or bool, default=1
        The label of the inlier class; every other label counts as an outlier.
        The default matches sklearn's ``predict`` convention (1 inlier,
        -1 outlier).
    response_method : str or tuple of str, default=("score_samples", "decision_function")
        The estimator method giving normality scores, or methods to try in
        order (a single name is passed to ``make_scorer`` as a 1-tuple). For
        sklearn's detectors both give the same ranking (they differ by the
        constant ``offset_``), hence the same AUC.

    Returns
    -------
    scorer : callable
        ``scorer(estimator, X, y) -> float``.

    Examples
    --------
    >>> from sklearn.model_selection import GridSearchCV, StratifiedKFold
    >>> from sklearn.pipeline import make_pipeline
    >>> from sklearn.preprocessing import Normalizer
    >>> from sklearn.svm import OneClassSVM
    >>> from skcatdog import KerasEmbeddingTransformer
    >>> from skcatdog import FitOnInliers, make_novelty_scorer
    >>> detector = FitOnInliers(
    ...     make_pipeline(KerasEmbeddingTransformer(), Normalizer(), OneClassSVM()), inlier_label="cat")
    >>> search = GridSearchCV(
    ...     detector, {"estimator__oneclasssvm__nu": [0.05, 0.2, 0.5]},
    ...     scoring=make_novelty_scorer("cat"), cv=StratifiedKFold(5, shuffle=True, random_state=0))
    >>> search.fit(paths, labels)  # labels: "cat" and anything else  # doctest: +SKIP
    """
    if isinstance(response_method, str):
        response_method = (response_method,)  # make_scorer's own check knows no "score_samples"
    return make_scorer(novelty_roc_auc_score, response_method=response_method, inlier_label=inlier_label)


def _equals(y, label):
    """``y == label`` elementwise, as a bool array, whatever the dtypes."""
    is_label = np.asarray(y == label, dtype=bool)
    if is_label.shape != y.shape:  # a comparison numpy would not broadcast
        is_label = np.array([value == label for value in y], dtype=bool)
    return is_label
