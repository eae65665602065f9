"""ClippedClassifier: what clipping does to probabilities, labels and log-loss."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.svm import SVC
from sklearn.utils._param_validation import InvalidParameterError

from skcatdog import ClippedClassifier, kaggle_log_loss

X, y = make_classification(300, n_features=5, n_informative=5, n_redundant=0, class_sep=3.0, random_state=0)
X3, y3 = make_classification(300, n_features=5, n_informative=5, n_redundant=0, n_classes=3, random_state=0)


def test_probabilities_stay_inside_eps_and_sum_to_one():
    inner = LogisticRegression(C=1e4).fit(X, y)
    assert inner.predict_proba(X).min() < 1e-6  # the unclipped model is sure of some rows
    clf = ClippedClassifier(LogisticRegression(C=1e4), eps=0.01).fit(X, y)
    proba = clf.predict_proba(X)
    assert proba.min() == pytest.approx(0.01) and proba.max() == pytest.approx(0.99)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(clf.predict_log_proba(X), np.log(proba))
    # Rows the inner model was unsure of are left alone.
    unsure = inner.predict_proba(X).min(axis=1) > 0.01
    np.testing.assert_allclose(proba[unsure], inner.predict_proba(X)[unsure])


class GivenProba(ClassifierMixin, BaseEstimator):
    """A classifier whose probabilities are its input's rows: a test chooses them exactly."""

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.asarray(X, dtype=float)


def test_three_classes_are_renormalised_after_clipping():
    # With two classes clipping keeps a row's sum at one; with three, raising two small columns to eps
    # does not lower the third by as much, so the row must be divided by its new sum.
    rows = np.array([[0.998, 0.001, 0.001], [0.5, 0.4999, 0.0001], [0.2, 0.3, 0.5]])
    clf = ClippedClassifier(GivenProba(), eps=0.01).fit(rows, [0, 1, 2])
    proba = clf.predict_proba(rows)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[0], np.array([0.99, 0.01, 0.01]) / 1.01)
    np.testing.assert_allclose(proba[1], np.array([0.5, 0.4999, 0.01]) / 1.0099)
    np.testing.assert_allclose(proba[2], rows[2])  # nothing to clip: left alone
    np.testing.assert_allclose(clf.predict_log_proba(rows), np.log(proba))
    np.testing.assert_array_equal(clf.predict(rows), [0, 0, 2])
    # The same with a fitted model that is sure of some rows.
    clf = ClippedClassifier(LogisticRegression(C=1e4), eps=0.05).fit(X3, y3)
    assert (clf.estimator_.predict_proba(X3) < 0.05).sum(axis=1).max() == 2  # rows with two columns clipped
    np.testing.assert_allclose(clf.predict_proba(X3).sum(axis=1), 1.0)


def test_eps_zero_is_the_wrapped_classifier():
    inner = LogisticRegression().fit(X3, y3)
    clf = ClippedClassifier(LogisticRegression(), eps=0.0).fit(X3, y3)
    np.testing.assert_allclose(clf.predict_proba(X3), inner.predict_proba(X3))
    np.testing.assert_array_equal(clf.predict(X3), inner.predict(X3))
    np.testing.assert_allclose(clf.decision_function(X3), inner.decision_function(X3))


def test_labels_never_change_for_two_classes():
    inner = LogisticRegression(C=1e4).fit(X, y)
    clf = ClippedClassifier(LogisticRegression(C=1e4), eps=0.3).fit(X, y)
    np.testing.assert_array_equal(clf.predict(X), inner.predict(X))
    np.testing.assert_array_equal(clf.classes_, inner.classes_)


def test_clipping_caps_the_cost_of_a_sure_mistake():
    clf = ClippedClassifier(LogisticRegression(C=1e4), eps=0.005).fit(X, y)
    far = X[y == 1].mean(axis=0) * 50  # deep inside class 1: the model is sure
    assert clf.estimator_.predict_proba([far])[0, 0] < 1e-12
    loss = kaggle_log_loss([0], clf.predict_proba([far]), labels=[0, 1])  # ... and the label says 0
    assert loss == pytest.approx(-np.log(0.005))


def test_tunable_by_grid_search():
    search = GridSearchCV(ClippedClassifier(LogisticRegression()), {"eps": [0.0, 0.05]}, scoring="neg_log_loss")
    assert search.fit(X, y).best_params_["eps"] in (0.0, 0.05)
    assert len(search.cv_results_["mean_test_score"]) == 2


@pytest.mark.parametrize(
    "params, match",
    [
        (dict(eps=0.5), "'eps' parameter of ClippedClassifier must be a float in the range \\[0.0, 0.5\\)"),
        (dict(eps=-0.1), "'eps' parameter of ClippedClassifier"),
        (dict(eps="small"), "'eps' parameter of ClippedClassifier"),
        (dict(estimator=SVC()), "'estimator' parameter of ClippedClassifier.*predict_proba"),
    ],
)
def test_bad_parameters_are_named_at_fit(params, match):
    clf = ClippedClassifier(LogisticRegression()).set_params(**params)
    with pytest.raises(InvalidParameterError, match=match):
        clf.fit(X, y)
    assert not hasattr(clf, "estimator_")
