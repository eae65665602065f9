"""skcatdog.metrics: Kaggle's clipped log-loss and the novelty AUROC, on hand-made numbers."""

import math

import numpy as np
import pytest
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import get_scorer, log_loss, roc_auc_score
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.svm import LinearSVC, OneClassSVM
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.metaestimators import available_if

from skcatdog.metrics import kaggle_log_loss, kaggle_log_loss_scorer, make_novelty_scorer, novelty_roc_auc_score

# What Kaggle charges for a sure and wrong prediction, either way round. For p = 1
# it is -log(1 - (1 - 1e-15)), slightly more than -log(1e-15) in float64.
WRONG_P0 = -math.log(1e-15)  # 34.5388, a dog given p(dog) = 0
WRONG_P1 = -math.log(1 - (1 - 1e-15))  # 34.5396, a cat given p(dog) = 1


# --------------------------------------------------------------------------- #
# kaggle_log_loss
# --------------------------------------------------------------------------- #


def test_kaggle_log_loss_by_hand():
    # 1-D: the probability of the second sorted label, "dog" (Kaggle's column).
    assert kaggle_log_loss(["cat", "dog", "dog"], [0.1, 0.8, 0.5]) == pytest.approx(
        -(math.log(0.9) + math.log(0.8) + math.log(0.5)) / 3, rel=1e-12
    )
    assert kaggle_log_loss([0, 1], [0.25, 0.75]) == pytest.approx(-math.log(0.75), rel=1e-12)


def test_sure_and_wrong_costs_what_kaggle_charges_not_what_sklearn_does():
    y = ["cat", "dog", "cat", "dog"]
    p_dog = [1.0, 0.0, 0.0, 1.0]  # two sure mistakes, two sure hits
    expected = (WRONG_P1 + WRONG_P0 + 2 * -math.log(1 - 1e-15)) / 4
    assert kaggle_log_loss(y, p_dog) == pytest.approx(expected, rel=1e-12)
    assert kaggle_log_loss(y, p_dog) == pytest.approx(17.27, abs=0.01)
    # sklearn clips at the float64 epsilon instead: 36.04 per mistake.
    assert log_loss(y, p_dog) == pytest.approx(-math.log(np.finfo(np.float64).eps) / 2, rel=1e-9)
    assert log_loss(y, p_dog) > kaggle_log_loss(y, p_dog) + 0.7


def test_float32_probabilities_are_clipped_at_1e15_too():
    # In float32, 1 - 1e-15 == 1.0: without a cast, sklearn would clip at the
    # float32 epsilon and charge -log(1.2e-7) = 15.9 for a sure mistake.
    y = ["cat", "dog"]
    p32 = np.array([[0.0, 1.0], [1.0, 0.0]], dtype=np.float32)
    assert kaggle_log_loss(y, p32) == pytest.approx(WRONG_P0, rel=1e-9)
    assert kaggle_log_loss(y, p32) == kaggle_log_loss(y, p32.astype(np.float64))


def test_proba_matrix_matches_positive_column_and_sklearn_when_unclipped():
    rng = np.random.default_rng(0)
    y = rng.choice(["cat", "dog"], 200)
    p_dog = rng.uniform(0.01, 0.99, 200)
    matrix = np.column_stack([1 - p_dog, p_dog])
    assert kaggle_log_loss(y, matrix) == pytest.approx(kaggle_log_loss(y, p_dog), rel=1e-12)
    assert kaggle_log_loss(y, p_dog) == pytest.approx(log_loss(y, p_dog), rel=1e-12)

    # Three classes: rows of a proper probability matrix, one entry exactly 0.
    y3 = rng.choice(["bird", "cat", "dog"], 100)
    proba = rng.dirichlet(np.ones(3), 100)
    assert kaggle_log_loss(y3, proba) == pytest.approx(log_loss(y3, proba), rel=1e-12)
    proba[0] = [0.0, 0.0, 1.0] if y3[0] != "dog" else [1.0, 0.0, 0.0]
    unclipped = log_loss(y3[1:], proba[1:], labels=["bird", "cat", "dog"])
    assert kaggle_log_loss(y3, proba) == pytest.approx((99 * unclipped + WRONG_P0) / 100, rel=1e-9)


def test_eps_labels_and_sample_weight():
    assert kaggle_log_loss(["dog"], [0.0], eps=0.01, labels=["cat", "dog"]) == pytest.approx(-math.log(0.01))
    # One class in y_true needs the labels, as in sklearn.
    with pytest.raises(ValueError, match="labels"):
        kaggle_log_loss(["dog", "dog"], [0.5, 0.9])
    assert kaggle_log_loss(["dog", "dog"], [0.5, 0.9], labels=["cat", "dog"]) == pytest.approx(
        -(math.log(0.5) + math.log(0.9)) / 2
    )
    weighted = kaggle_log_loss(["cat", "dog"], [0.5, 0.9], sample_weight=[3, 1])
    assert weighted == pytest.approx(-(3 * math.log(0.5) + math.log(0.9)) / 4)


@pytest.mark.parametrize("eps", [0, -1e-15, 0.5, 2, True, "1e-15", None])
def test_bad_eps_is_refused(eps):
    with pytest.raises(ValueError, match="eps"):
        kaggle_log_loss(["cat", "dog"], [0.2, 0.8], eps=eps)


@pytest.mark.parametrize("bad", [[0.2, 1.5], [-0.1, 0.8], [0.2, np.nan]])
def test_out_of_range_probabilities_are_refused_not_clipped(bad):
    with pytest.raises(ValueError):
        kaggle_log_loss(["cat", "dog"], bad)


def test_three_dimensional_input_is_refused():
    with pytest.raises(ValueError):
        kaggle_log_loss(["cat", "dog"], np.full((2, 2, 1), 0.5))


# --------------------------------------------------------------------------- #
# kaggle_log_loss_scorer
# --------------------------------------------------------------------------- #


def _data():
    X, y = make_classification(n_samples=300, n_features=10, flip_y=0.1, random_state=0)
    return X, np.where(y == 1, "dog", "cat")


def test_scorer_equals_neg_log_loss_for_a_calibrated_classifier():
    X, y = _data()
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    ours = cross_val_score(LogisticRegression(), X, y, cv=cv, scoring=kaggle_log_loss_scorer)
    sklearns = cross_val_score(LogisticRegression(), X, y, cv=cv, scoring="neg_log_loss")
    assert np.all(ours < 0)  # a loss, negated: greater is better
    np.testing.assert_allclose(ours, sklearns, rtol=1e-12)


def test_scorer_clips_a_sure_classifier_the_kaggle_way():
    X, y = _data()
    tree = DecisionTreeClassifier(random_state=0).fit(X[:200], y[:200])  # pure leaves: p in {0, 1}
    X_test, y_test = X[200:], y[200:]
    p_dog = tree.predict_proba(X_test)[:, list(tree.classes_).index("dog")]
    assert set(np.unique(p_dog)) == {0.0, 1.0}
    wrong_dogs = np.sum((p_dog == 0) & (y_test == "dog"))
    wrong_cats = np.sum((p_dog == 1) & (y_test == "cat"))
    right = len(y_test) - wrong_dogs - wrong_cats
    assert wrong_dogs + wrong_cats > 5
    by_hand = (wrong_dogs * WRONG_P0 + wrong_cats * WRONG_P1 + right * -math.log(1 - 1e-15)) / len(y_test)
    assert kaggle_log_loss_scorer(tree, X_test, y_test) == pytest.approx(-by_hand, rel=1e-12)
    assert get_scorer("neg_log_loss")(tree, X_test, y_test) < -by_hand - 0.1  # sklearn's eps is harsher


def test_scorer_needs_predict_proba():
    X, y = _data()
    with pytest.raises(AttributeError, match="predict_proba"):
        kaggle_log_loss_scorer(LinearSVC().fit(X, y), X, y)


# --------------------------------------------------------------------------- #
# novelty_roc_auc_score and make_novelty_scorer
# --------------------------------------------------------------------------- #


def test_novelty_roc_auc_by_hand():
    y = ["cat", "cat", "dog", "dog"]
    # Of the 4 (cat, dog) pairs, 3 have the cat scoring higher.
    assert novelty_roc_auc_score(y, [0.9, 0.3, 0.4, 0.1], inlier_label="cat") == 0.75
    assert novelty_roc_auc_score(y, [0.9, 0.5, 0.4, 0.1], inlier_label="cat") == 1.0
    assert novelty_roc_auc_score(y, [0.1, 0.2, 0.4, 0.9], inlier_label="cat") == 0.0
    assert novelty_roc_auc_score(y, [1, 1, 1, 1], inlier_label="cat") == 0.5
    # Taking "dog" as the inlier turns the same scores round.
    assert novelty_roc_auc_score(y, [0.9, 0.3, 0.4, 0.1], inlier_label="dog") == 0.25


def test_novelty_roc_auc_default_is_sklearns_plus_minus_one_and_several_outlier_labels():
    rng = np.random.default_rng(0)
    score = rng.normal(size=50)
    y_pm = np.where(score + rng.normal(size=50) > 0, 1, -1)
    assert novelty_roc_auc_score(y_pm, score) == pytest.approx(roc_auc_score(y_pm == 1, score))
    # the same as the outlier-detection AUROC (outliers positive, outlier score)
    assert novelty_roc_auc_score(y_pm, score) == pytest.approx(roc_auc_score(y_pm == -1, -score))
    # every label other than the inlier's is an outlier
    y_many = np.where(y_pm == 1, "cat", rng.choice(["dog", "junk"], 50))
    assert novelty_roc_auc_score(y_many, score, inlier_label="cat") == novelty_roc_auc_score(y_pm, score)
    assert novelty_roc_auc_score(y_pm == 1, score, inlier_label=True) == novelty_roc_auc_score(y_pm, score)
    w = rng.uniform(size=50)
    assert novelty_roc_auc_score(y_pm, score, sample_weight=w) == pytest.approx(
        roc_auc_score(y_pm == 1, score, sample_weight=w)
    )


@pytest.mark.parametrize(
    "y, label", [(["cat", "cat"], "cat"), (["cat", "dog"], "Cat"), ([1, -1], "cat"), (["1", "-1"], 1)]
)
def test_novelty_roc_auc_needs_both_groups_and_names_the_labels(y, label):
    with pytest.raises(ValueError, match=r"inliers \(label .*\).*y_true holds"):
        novelty_roc_auc_score(y, [0.3, 0.2], inlier_label=label)


class FixedScores(OutlierMixin, BaseEstimator):
    """A detector whose normality score is the first column of X."""

    def __init__(self, with_score_samples=True):
        self.with_score_samples = with_score_samples

    def fit(self, X, y=None):
        self.fitted_ = True
        return self

    @available_if(lambda self: self.with_score_samples)
    def score_samples(self, X):
        return np.asarray(X)[:, 0]

    def decision_function(self, X):
        return np.asarray(X)[:, 0] - 0.5

    def predict(self, X):
        return np.where(self.decision_function(X) >= 0, 1, -1)


@pytest.mark.parametrize("with_score_samples", [True, False])
def test_novelty_scorer_on_hand_made_scores(with_score_samples):
    detector = FixedScores(with_score_samples).fit(None)
    assert hasattr(detector, "score_samples") == with_score_samples
    X = np.array([[0.9], [0.3], [0.4], [0.1]])
    assert make_novelty_scorer("cat")(detector, X, ["cat", "cat", "dog", "dog"]) == 0.75
    assert make_novelty_scorer()(detector, X, [1, 1, -1, -1]) == 0.75
    assert make_novelty_scorer("dog")(detector, X, ["cat", "cat", "dog", "dog"]) == 0.25


def test_novelty_scorer_score_samples_and_decision_function_agree():
    rng = np.random.default_rng(0)
    X_in = rng.normal(size=(100, 3))
    X = np.vstack([rng.normal(size=(40, 3)), rng.normal(2.5, 1, size=(40, 3))])
    y = np.array(["cat"] * 40 + ["dog"] * 40)
    detector = OneClassSVM(gamma=0.5).fit(X_in)
    by_samples = make_novelty_scorer("cat", response_method="score_samples")(detector, X, y)
    by_decision = make_novelty_scorer("cat", response_method="decision_function")(detector, X, y)
    assert by_samples == pytest.approx(by_decision)
    assert by_samples == pytest.approx(novelty_roc_auc_score(y, detector.score_samples(X), inlier_label="cat"))
    assert by_samples > 0.9


def test_float32_probability_rows_score_without_a_warning():
    import warnings

    proba = np.array([[0.3, 0.7], [0.9, 0.1], [0.2, 0.8]], dtype=np.float32) * np.float32(1 + 3e-7)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        loss = kaggle_log_loss(["dog", "cat", "dog"], proba)
    assert loss == pytest.approx(-np.mean(np.log([0.7, 0.9, 0.8])), rel=1e-6)
