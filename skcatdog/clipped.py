"""ClippedClassifier: keep predicted probabilities away from 0 and 1."""

from __future__ import annotations

import numbers

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin, MetaEstimatorMixin, clone
from sklearn.utils.metaestimators import available_if
from sklearn.utils.multiclass import type_of_target
from sklearn.utils.validation import check_is_fitted

from ._validation import HasMethods, Interval, fit_context

__all__ = ["ClippedClassifier"]


def _estimator_has(attr):
    def check(self):
        return hasattr(self.estimator_ if hasattr(self, "estimator_") else self.estimator, attr)

    return check


class ClippedClassifier(MetaEstimatorMixin, ClassifierMixin, BaseEstimator):
    """Clip a classifier's probabilities into ``[eps, 1 - eps]``.

    Log-loss punishes one confident mistake without bound: a single
    mislabelled test photo predicted at 1e-6 costs ``-log(1e-6) / n``.
    Clipping caps that cost at ``-log(eps) / n`` and costs a little on every
    correct, confident prediction, so whether it pays depends on how well the
    wrapped classifier is calibrated: measure it (``eps`` is a parameter
    GridSearchCV can tune, and ``eps=0`` switches clipping off).

    Parameters
    ----------
    estimator : classifier with ``predict_proba``
        Cloned and fitted by :meth:`fit`.
    eps : float in [0, 0.5), default=0.005
        Probabilities are clipped to ``[eps, 1 - eps]`` and each row is
        renormalised to sum to one (for two classes this keeps both columns
        inside the interval).

    Attributes
    ----------
    estimator_ : classifier
        The fitted clone of ``estimator``.
    classes_ : ndarray of shape (n_classes,)
    n_features_in_ : int
        Only when the wrapped estimator has it.

    Examples
    --------
    >>> from sklearn.linear_model import LogisticRegression
    >>> from skcatdog import ClippedClassifier
    >>> X, y = [[0.0], [1.0], [2.0], [3.0]], [0, 0, 1, 1]
    >>> clf = ClippedClassifier(LogisticRegression(C=100), eps=0.01).fit(X, y)
    >>> clf.predict_proba([[-50.0]]).round(3)
    array([[0.99, 0.01]])
    """

    _parameter_constraints: dict = {
        "estimator": [HasMethods(["fit", "predict_proba"])],
        "eps": [Interval(numbers.Real, 0, 0.5, closed="left")],
    }

    def __init__(self, estimator, *, eps=0.005):
        self.estimator = estimator
        self.eps = eps

    # The wrapped estimator is the user's: its own parameters are validated when it is fitted.
    @fit_context(prefer_skip_nested_validation=False)
    def fit(self, X, y, **fit_params):
        """Fit a clone of ``estimator``.

        Parameters
        ----------
        X : array-like
            Training data, as the wrapped estimator accepts it.
        y : array-like of shape (n_samples,)
            Target labels.
        **fit_params : dict
            Passed to ``estimator.fit``.

        Returns
        -------
        self : ClippedClassifier
            The fitted wrapper.
        """
        y_type = type_of_target(y, input_name="y")
        if y_type == "multilabel-indicator" or y_type.endswith("multioutput"):
            # Clipping renormalises each row to sum to one: one label per sample.
            raise ValueError(f"Multilabel and multioutput targets are not supported; y is {y_type}.")
        self.estimator_ = clone(self.estimator).fit(X, y, **fit_params)
        self.classes_ = self.estimator_.classes_
        if hasattr(self.estimator_, "n_features_in_"):
            self.n_features_in_ = self.estimator_.n_features_in_
        if hasattr(self.estimator_, "feature_names_in_"):
            self.feature_names_in_ = self.estimator_.feature_names_in_
        return self

    def predict_proba(self, X):
        """Clipped, renormalised class probabilities.

        Parameters
        ----------
        X : array-like
            What the wrapped estimator accepts.

        Returns
        -------
        proba : ndarray of shape (n_samples, n_classes)
            Rows sum to one; columns follow ``classes_``.
        """
        check_is_fitted(self)
        proba = np.clip(self.estimator_.predict_proba(X), self.eps, 1 - self.eps)
        return proba / proba.sum(axis=1, keepdims=True)

    def predict_log_proba(self, X):
        """Logarithm of :meth:`predict_proba`.

        Parameters
        ----------
        X : array-like
            What the wrapped estimator accepts.

        Returns
        -------
        log_proba : ndarray of shape (n_samples, n_classes)
            Finite for every ``eps > 0``.
        """
        return np.log(self.predict_proba(X))

    def predict(self, X):
        """The most probable class (clipping never changes it for two classes).

        Parameters
        ----------
        X : array-like
            What the wrapped estimator accepts.

        Returns
        -------
        y_pred : ndarray of shape (n_samples,)
            Labels from ``classes_``.
        """
        proba = self.predict_proba(X)  # checks fitted before classes_ is read
        return self.classes_[np.argmax(proba, axis=1)]

    @available_if(_estimator_has("decision_function"))
    def decision_function(self, X):
        """The wrapped estimator's decision function, unclipped.

        Parameters
        ----------
        X : array-like
            What the wrapped estimator accepts.

        Returns
        -------
        scores : ndarray of shape (n_samples,) or (n_samples, n_classes)
            ``estimator_.decision_function(X)``.
        """
        check_is_fitted(self)
        return self.estimator_.decision_function(X)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        inner = self.estimator.__sklearn_tags__()
        tags.input_tags = inner.input_tags
        tags.classifier_tags.multi_label = False
        return tags
