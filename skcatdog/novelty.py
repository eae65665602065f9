"""FitOnInliers: cross-validate and grid-search one-class detectors on labelled data.

The detectors are scikit-learn's own (``OneClassSVM``, ``IsolationForest``,
``LocalOutlierFactor(novelty=True)``); on image embeddings the recommended one
is ``make_pipeline(KerasEmbeddingTransformer(), Normalizer(), OneClassSVM())``
(see ``examples/one_class.py``). Score it with
:func:`skcatdog.metrics.make_novelty_scorer`.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, MetaEstimatorMixin, OutlierMixin, clone
from sklearn.utils import _safe_indexing, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _num_samples, check_consistent_length, check_is_fitted, column_or_1d

from .metrics import _equals

__all__ = ["FitOnInliers"]


def _estimator_has(attr):
    def check(self):
        getattr(self.estimator_ if hasattr(self, "estimator_") else self.estimator, attr)
        return True

    return check


class FitOnInliers(OutlierMixin, MetaEstimatorMixin, BaseEstimator):
    """Fit an outlier detector on the samples labelled ``inlier_label`` only.

    One-class detectors (``OneClassSVM``, ``IsolationForest``...) learn what
    normal looks like from normal samples, so they ignore ``y`` and fit on
    whatever they are given. That makes them awkward to cross-validate with
    labelled data: every CV training fold holds outliers too, and
    ``GridSearchCV`` refits the winner on all of ``X``. This wrapper makes
    ``fit(X, y)`` fit a clone of ``estimator`` on ``X[y == inlier_label]``
    only, while ``score_samples``, ``decision_function`` and ``predict`` see
    every sample. With it, ordinary splitters (``StratifiedKFold``, or
    ``PredefinedSplit`` for a fixed labelled validation set), ``refit=True``
    and :func:`make_novelty_scorer` do the right thing.

    Parameters
    ----------
    estimator : estimator
        An outlier detector, or a ``Pipeline`` ending in one.
    inlier_label : int, str or bool, default=1
        The label of the samples to fit on. ``fit(X)`` without ``y`` fits on
        all of ``X``.

    Attributes
    ----------
    estimator_ : estimator
        The clone of ``estimator`` fitted on the inliers.
    n_inliers_ : int
        How many samples it was fitted on.

    See Also
    --------
    make_novelty_scorer : Score such a detector on labelled data.

    Notes
    -----
    Fit parameters (``sample_weight``...) of length ``n_samples`` are
    restricted to the inliers along with ``X``; others are passed through.

    Why a wrapper and not a CV splitter whose training folds hold inliers
    only: such a splitter fixes the folds, but ``GridSearchCV(refit=True)``
    would still refit the best detector on all of ``X``, outliers included.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.svm import OneClassSVM
    >>> from skcatdog import FitOnInliers
    >>> X = np.array([[0.0], [0.1], [0.2], [5.0]])
    >>> y = np.array(["cat", "cat", "cat", "dog"])
    >>> detector = FitOnInliers(OneClassSVM(gamma=1.0, nu=0.5), inlier_label="cat").fit(X, y)
    >>> detector.n_inliers_
    3
    >>> detector.predict([[0.1], [5.0]])
    array([ 1, -1])
    """

    def __init__(self, estimator, *, inlier_label=1):
        self.estimator = estimator
        self.inlier_label = inlier_label

    def fit(self, X, y=None, **fit_params):
        """Fit a clone of ``estimator`` on the samples with ``y == inlier_label``.

        Parameters
        ----------
        X : array-like or sequence of length n_samples
            Anything ``estimator`` accepts (image paths for a skcatdog
            pipeline).
        y : array-like of shape (n_samples,), default=None
            Labels; None fits on every sample.
        **fit_params : dict
            Passed to ``estimator.fit``, restricted to the inliers where they
            have one value per sample.

        Returns
        -------
        self : FitOnInliers
        """
        n_samples = _num_samples(X)
        if y is not None:
            y = column_or_1d(y)
            check_consistent_length(X, y)
            keep = np.flatnonzero(_equals(y, self.inlier_label))
            if keep.size == 0:
                raise ValueError(
                    f"no sample is labelled inlier_label={self.inlier_label!r}; y holds {np.unique(y).tolist()}"
                )
            if keep.size < n_samples:
                X = _take(X, keep)
                fit_params = {
                    key: _take(value, keep) if _has_length(value, n_samples) else value
                    for key, value in fit_params.items()
                }
            n_samples = keep.size
        self.estimator_ = clone(self.estimator).fit(X, **fit_params)
        self.n_inliers_ = int(n_samples)
        return self

    @available_if(_estimator_has("score_samples"))
    def score_samples(self, X):
        """Normality scores of ``estimator_`` (higher = more like the inliers).

        Parameters
        ----------
        X : array-like or sequence of length n_samples

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.estimator_.score_samples(X)

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """``estimator_.decision_function``: positive for inliers, negative for outliers.

        Parameters
        ----------
        X : array-like or sequence of length n_samples

        Returns
        -------
        scores : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.estimator_.decision_function(X)

    @available_if(_estimator_has("predict"))
    def predict(self, X):
        """``estimator_.predict``: 1 for inliers, -1 for outliers.

        Parameters
        ----------
        X : array-like or sequence of length n_samples

        Returns
        -------
        labels : ndarray of shape (n_samples,)
        """
        check_is_fitted(self)
        return self.estimator_.predict(X)

    @available_if(_estimator_has("predict"))
    def fit_predict(self, X, y=None, **fit_params):
        """Fit on the inliers of ``X``, then predict every sample of ``X``.

        (``OutlierMixin.fit_predict`` would drop ``y`` and fit on everything.)

        Parameters
        ----------
        X : array-like or sequence of length n_samples
        y : array-like of shape (n_samples,), default=None
        **fit_params : dict

        Returns
        -------
        labels : ndarray of shape (n_samples,)
            1 for inliers, -1 for outliers.
        """
        return self.fit(X, y, **fit_params).predict(X)

    @property
    def offset_(self):
        """``estimator_.offset_`` (``decision_function = score_samples - offset_``), where it has one."""
        return self.estimator_.offset_

    @property
    def n_features_in_(self):
        """Number of features seen by ``estimator_`` during fit (where it has one)."""
        return self.estimator_.n_features_in_

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = get_tags(self.estimator)
        tags.input_tags = inner.input_tags  # what X may be: whatever the wrapped estimator takes
        tags.non_deterministic = inner.non_deterministic
        return tags


def _take(X, indices):
    """Rows ``indices`` of ``X``: an array, sparse matrix, DataFrame, Series or list."""
    if sp.issparse(X):
        X = X.tocsr()  # COO, DIA... cannot be indexed
    elif not hasattr(X, "__getitem__"):
        X = np.asarray(X)
    return _safe_indexing(X, indices)


def _has_length(value, n_samples):
    try:
        return not isinstance(value, (str, bytes)) and len(value) == n_samples
    except TypeError:
        return False
