"""Novelty detection on labelled data: fit one-class detectors on inliers, score them.

* :class:`FitOnInliers`: cross-validate and grid-search a one-class detector
  on labelled data.
* :func:`novelty_roc_auc_score` / :func:`make_novelty_scorer`: how well its
  normality score tells the inlier class from everything else (also importable
  from ``skcatdog.metrics``).

The detectors are scikit-learn's own (``OneClassSVM``, ``IsolationForest``,
``LocalOutlierFactor(novelty=True)``); on image embeddings the recommended one
is ``make_pipeline(KerasEmbeddingTransformer(), Normalizer(), OneClassSVM())``
(see ``examples/one_class.py``).
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, MetaEstimatorMixin, OutlierMixin, clone
from sklearn.metrics import make_scorer, roc_auc_score
from sklearn.utils import _safe_indexing, get_tags
from sklearn.utils.metaestimators import available_if
from sklearn.utils.validation import _num_samples, check_consistent_length, check_is_fitted, column_or_1d

from ._validation import HasMethods, StrOptions, fit_context, validate_params

__all__ = ["FitOnInliers", "make_novelty_scorer", "novelty_roc_auc_score"]

#: A label: int (bool included), str (numpy's str and int types included).
_LABEL = [numbers.Integral, str]


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

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit"])],
        "inlier_label": _LABEL,
    }

    def __init__(self, estimator, *, inlier_label=1):
        self.estimator = estimator
        self.inlier_label = inlier_label

    # The wrapped estimator is the user's: its own parameters are validated when it is fitted.
    @fit_context(prefer_skip_nested_validation=False)
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
            With ``estimator_`` and ``n_inliers_`` set.
        """
        n_samples = _num_samples(X)
        if y is not None:
            y = column_or_1d(y)
            check_consistent_length(X, y)
            inlier_rows = np.flatnonzero(_equals(y, self.inlier_label))
            if inlier_rows.size == 0:
                raise ValueError(
                    f"no sample is labelled inlier_label={self.inlier_label!r}; y holds {np.unique(y).tolist()}"
                )
            if inlier_rows.size < n_samples:
                X = _take(X, inlier_rows)
                fit_params = {
                    key: _take(value, inlier_rows) if _has_length(value, n_samples) else value
                    for key, value in fit_params.items()
                }
            n_samples = inlier_rows.size
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


# --------------------------------------------------------------------------- #
# Novelty detection
# --------------------------------------------------------------------------- #


@validate_params(
    {
        "y_true": ["array-like"],
        "y_score": ["array-like"],
        "inlier_label": _LABEL,
        "sample_weight": ["array-like", None],
    },
    prefer_skip_nested_validation=True,
)
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
        In [0, 1]; 0.5 is chance.

    Raises
    ------
    ValueError
        If ``y_true`` has no inliers or only inliers.

    See Also
    --------
    make_novelty_scorer : The same, as a ``scoring=`` object.

    Examples
    --------
    >>> from skcatdog.novelty import novelty_roc_auc_score
    >>> novelty_roc_auc_score(["cat", "cat", "dog", "dog"], [0.9, 0.3, 0.4, 0.1], inlier_label="cat")
    0.75
    """
    y_true = column_or_1d(y_true)
    is_inlier = _equals(y_true, inlier_label)
    if is_inlier.all() or not is_inlier.any():
        found = np.unique(y_true).tolist() if y_true.size else []
        raise ValueError(
            f"novelty_roc_auc_score needs both inliers (label {inlier_label!r}) and other samples; y_true holds {found}"
        )
    return float(roc_auc_score(is_inlier, column_or_1d(y_score), sample_weight=sample_weight))


_RESPONSE_METHODS = StrOptions({"score_samples", "decision_function", "predict_proba", "predict"})


@validate_params(
    {"inlier_label": _LABEL, "response_method": [_RESPONSE_METHODS, tuple, list]},
    prefer_skip_nested_validation=True,
)
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
