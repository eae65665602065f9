"""Scores spelled the scikit-learn way: Kaggle's log-loss, retrieval, and novelty detection.

* :func:`kaggle_log_loss` / :data:`kaggle_log_loss_scorer`: the Dogs vs Cats
  leaderboard's log-loss, which clips probabilities to ``[1e-15, 1 - 1e-15]``.
* :func:`precision_at_k`: how many of the ``k`` best-ranked samples are of the
  class being retrieved (see :func:`skcatdog.active.top_k`).
* :func:`novelty_roc_auc_score` / :func:`make_novelty_scorer`: how well an
  outlier detector's normality score (``score_samples``) tells the inlier class
  from everything else. They live with :class:`skcatdog.FitOnInliers` in
  ``skcatdog.novelty`` and are importable from here too.
"""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.metrics import log_loss, make_scorer
from sklearn.utils.validation import check_array

from ._validation import Interval, validate_params
from .novelty import make_novelty_scorer, novelty_roc_auc_score

__all__ = [
    "kaggle_log_loss",
    "kaggle_log_loss_scorer",
    "make_novelty_scorer",
    "novelty_roc_auc_score",
    "precision_at_k",
]

KAGGLE_EPS = 1e-15


# --------------------------------------------------------------------------- #
# Kaggle's log-loss
# --------------------------------------------------------------------------- #


@validate_params(
    {
        "y_true": ["array-like"],
        "y_proba": ["array-like"],
        "eps": [Interval(numbers.Real, 0, 0.5, closed="neither")],
        "labels": ["array-like", None],
        "sample_weight": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
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
# Retrieval
# --------------------------------------------------------------------------- #


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "k": [Interval(numbers.Integral, 1, None, closed="left")],
        "pos_label": "no_validation",  # any label
    },
    prefer_skip_nested_validation=True,
)
def precision_at_k(y_true, y_score, k, *, pos_label):
    """Fraction of ``pos_label`` among the ``k`` highest-scored samples.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        True labels.
    y_score : array-like of shape (n_samples,)
        Scores for ``pos_label``, higher meaning more likely, e.g.
        ``predict_proba(X)[:, list(clf.classes_).index(pos_label)]``.
        Equal scores are ranked by index.
    k : int
        Cut-off, ``1 <= k <= n_samples``.
    pos_label : int, str or bool
        The class being retrieved.

    Returns
    -------
    precision : float
        Compare it with the base rate ``mean(y_true == pos_label)``, which
        is what a random ranking scores on average.

    See Also
    --------
    skcatdog.active.top_k : The ranking this scores.

    Examples
    --------
    >>> from skcatdog.metrics import precision_at_k
    >>> precision_at_k(["dog", "cat", "dog", "cat"], [0.9, 0.8, 0.7, 0.1], 2, pos_label="dog")
    0.5
    """
    y_true = np.asarray(y_true)
    y_score = np.asarray(y_score, dtype=np.float64)
    if y_true.ndim != 1 or y_score.shape != y_true.shape:
        raise ValueError(
            f"y_true and y_score must be 1-D of the same length, got shapes {y_true.shape} and {y_score.shape}"
        )
    if k > y_true.size:
        raise ValueError(f"k={k} is larger than the {y_true.size} samples")
    top = top_ranked(y_score, np.arange(y_true.size), k)
    return float(np.mean(y_true[top] == pos_label))


def top_ranked(scores, candidates, n):
    """The ``n`` candidates with the highest scores, highest first, ties to the lower index."""
    order = np.lexsort((candidates, -scores))
    return candidates[order[:n]]
