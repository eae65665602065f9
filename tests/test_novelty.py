"""Novelty detection: sklearn's one-class detectors after the embedder, FitOnInliers, the AUROC scorer."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from sklearn.base import BaseEstimator, OutlierMixin
from sklearn.ensemble import IsolationForest
from sklearn.model_selection import GridSearchCV, PredefinedSplit, StratifiedKFold, cross_val_score
from sklearn.neighbors import LocalOutlierFactor
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import Normalizer
from sklearn.svm import OneClassSVM
from sklearn.utils.estimator_checks import check_estimator

from skcatdog import FitOnInliers, KerasEmbeddingTransformer, load_image_folder
from skcatdog.metrics import make_novelty_scorer, novelty_roc_auc_score
from tests._helpers import TRAIN, needs_shared, tiny_transformer


def tiny():
    return tiny_transformer(views="crop")


@pytest.fixture
def flat_files(tmp_path):
    """Write ``n`` single-colour PNGs: to the tiny random backbone these look
    nothing like the random-noise images of ``image_files``."""

    def make(n, seed=5):
        rng = np.random.default_rng(seed)
        folder = tmp_path / f"flat-{seed}"
        folder.mkdir()
        paths = []
        for i in range(n):
            p = folder / f"flat{i}.png"
            Image.fromarray(np.full((40, 30, 3), rng.integers(0, 256, 3), dtype=np.uint8)).save(p)
            paths.append(str(p))
        return paths

    return make


# --------------------------------------------------------------------------- #
# Plain sklearn detectors after the embedder
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "tail",
    [
        lambda: [Normalizer(), OneClassSVM()],
        lambda: [OneClassSVM()],
        lambda: [IsolationForest(random_state=0)],
        lambda: [Normalizer(), LocalOutlierFactor(n_neighbors=5, novelty=True)],
    ],
    ids=["normalizer-ocsvm", "ocsvm", "iforest", "normalizer-lof"],
)
def test_embedding_pipeline_is_a_novelty_detector(tail, image_files, flat_files, forward_count):
    noise, flat = image_files(30, seed=1), flat_files(10)
    pipe = make_pipeline(tiny(), *tail()).fit(noise[:20])
    unseen = noise[20:] + flat
    scores = pipe.score_samples(unseen)
    decision = pipe.decision_function(unseen)
    predicted = pipe.predict(unseen)

    assert scores.shape == decision.shape == predicted.shape == (20,)
    np.testing.assert_allclose(decision, scores - pipe[-1].offset_, rtol=1e-6, atol=1e-6)
    assert set(np.unique(predicted)) <= {-1, 1}
    np.testing.assert_array_equal(predicted, np.where(decision < 0, -1, 1))
    assert novelty_roc_auc_score([1] * 10 + [-1] * 10, scores) > 0.9
    assert (predicted[10:] == -1).mean() >= 0.8  # the flat images are novel
    assert forward_count() == 40  # fit, score_samples, decision_function, predict: one pass per image


# --------------------------------------------------------------------------- #
# FitOnInliers
# --------------------------------------------------------------------------- #


class Recorder(OutlierMixin, BaseEstimator):
    """Remembers what ``fit`` was given."""

    def fit(self, X, y=None, sample_weight=None, note=None):
        self.X_, self.y_, self.sample_weight_, self.note_ = X, y, sample_weight, note
        return self

    def score_samples(self, X):
        return np.zeros(len(X))

    def predict(self, X):
        return np.ones(len(X), dtype=int)


@pytest.mark.parametrize("kind", ["ndarray", "list", "dataframe", "series"])
def test_fit_on_inliers_fits_the_inlier_rows_only(kind):
    X = np.arange(12.0).reshape(6, 2)
    y = np.array(["cat", "dog", "cat", "junk", "cat", "dog"])
    inliers = [0, 2, 4]
    if kind == "list":
        X_in = [f"photo{i}.jpg" for i in range(6)]
        expected = [X_in[i] for i in inliers]
    elif kind == "dataframe":
        X_in = pd.DataFrame(X, columns=["a", "b"], index=list("uvwxyz"))
        expected = X_in.iloc[inliers]
    elif kind == "series":
        X_in = pd.Series([f"photo{i}.jpg" for i in range(6)], index=list("uvwxyz"))
        expected = X_in.iloc[inliers]
    else:
        X_in, expected = X, X[inliers]

    detector = FitOnInliers(Recorder(), inlier_label="cat").fit(X_in, pd.Series(y), sample_weight=np.arange(6), note=6)
    fitted = detector.estimator_
    if kind in ("dataframe", "series"):
        assert type(fitted.X_) is type(X_in) and list(fitted.X_.index) == ["u", "w", "y"]
    np.testing.assert_array_equal(np.asarray(fitted.X_), np.asarray(expected))
    assert fitted.y_ is None  # one-class: y only chooses the rows
    np.testing.assert_array_equal(fitted.sample_weight_, [0, 2, 4])
    assert fitted.note_ == 6  # not per-sample: passed through
    assert detector.n_inliers_ == 3
    assert detector.estimator_ is not detector.estimator  # a clone
    assert not hasattr(detector.estimator, "X_")


def test_fit_on_inliers_without_y_or_with_only_inliers_fits_on_everything():
    X = np.arange(10.0).reshape(5, 2)
    assert FitOnInliers(Recorder()).fit(X).estimator_.X_ is X
    assert FitOnInliers(Recorder(), inlier_label="cat").fit(X, ["cat"] * 5).estimator_.X_ is X
    assert FitOnInliers(Recorder()).fit(X).n_inliers_ == 5


@pytest.mark.parametrize("y, label", [(["dog", "junk"], "cat"), (["cat", "dog"], "Cat"), ([-1, -1], 1)])
def test_fit_on_inliers_without_inliers_says_which_labels_it_saw(y, label):
    with pytest.raises(ValueError, match=r"no sample is labelled inlier_label=.*y holds"):
        FitOnInliers(OneClassSVM(), inlier_label=label).fit(np.zeros((2, 2)), y)


def test_fit_on_inliers_y_length_is_checked():
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        FitOnInliers(OneClassSVM()).fit(np.zeros((3, 2)), [1, -1])


def _blobs(n_in=200, n_out=60, seed=0):
    """Inliers from a standard normal in 8-d, outliers from a tight cluster at 3."""
    rng = np.random.default_rng(seed)
    X = np.vstack([rng.normal(size=(n_in, 8)), rng.normal(3, 0.5, size=(n_out, 8))])
    y = np.array(["cat"] * n_in + ["dog"] * n_out)
    order = rng.permutation(len(y))
    return X[order], y[order]


def test_fit_predict_fits_on_the_inliers_unlike_outliermixins():
    X, y = _blobs()
    detector = FitOnInliers(OneClassSVM(gamma=0.1, nu=0.05), inlier_label="cat")
    labels = detector.fit_predict(X, y)
    np.testing.assert_array_equal(labels, detector.fit(X, y).predict(X))
    assert (labels[y == "dog"] == -1).all()
    assert (labels[y == "cat"] == 1).mean() > 0.8
    # The plain detector, fitted on all of X, takes the dogs' cluster for normal.
    assert (OneClassSVM(gamma=0.1, nu=0.05).fit_predict(X)[y == "dog"] == 1).mean() > 0.5


def test_fit_on_inliers_methods_follow_the_wrapped_estimator():
    X, y = _blobs()
    transductive = FitOnInliers(LocalOutlierFactor(), inlier_label="cat")  # novelty=False: no predict on new data
    for method in ("predict", "score_samples", "decision_function"):
        assert not hasattr(transductive, method)
        assert hasattr(FitOnInliers(LocalOutlierFactor(novelty=True)), method)
    assert not hasattr(FitOnInliers(Recorder()), "decision_function")
    detector = FitOnInliers(IsolationForest(random_state=0), inlier_label="cat").fit(X, y)
    assert detector.n_features_in_ == 8
    np.testing.assert_allclose(detector.decision_function(X), detector.score_samples(X) - detector.offset_)


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.SkipTestWarning")
def test_fit_on_inliers_passes_sklearns_estimator_checks():
    check_estimator(
        FitOnInliers(OneClassSVM()),
        expected_failed_checks={
            # The check plants a bad value in one row and expects fit to choke
            # on it; here y chooses the rows fitted on, and that row is not an
            # inlier (label 1), so it is never looked at.
            "check_dtype_object": "y chooses the rows fitted on; the bad row is not an inlier",
            "check_estimators_nan_inf": "y chooses the rows fitted on; the NaN row is not an inlier",
        },
    )


# --------------------------------------------------------------------------- #
# Model selection with labels: FitOnInliers + make_novelty_scorer
# --------------------------------------------------------------------------- #


def test_grid_search_over_nu_scores_on_labels_and_refits_on_inliers():
    X, y = _blobs(seed=1)
    X_test, y_test = _blobs(seed=2)
    cv = StratifiedKFold(4, shuffle=True, random_state=0)
    search = GridSearchCV(
        FitOnInliers(OneClassSVM(gamma=0.1), inlier_label="cat"),
        {"estimator__nu": [0.01, 0.1, 0.5]},
        scoring=make_novelty_scorer("cat"),
        cv=cv,
    ).fit(X, y)

    assert search.best_score_ > 0.95
    assert set(search.cv_results_["param_estimator__nu"]) == {0.01, 0.1, 0.5}
    assert search.best_estimator_.n_inliers_ == 200  # the refit saw the cats only
    assert search.score(X_test, y_test) > 0.95
    assert set(np.unique(search.predict(X_test))) == {-1, 1}

    # Without FitOnInliers every training fold holds the dogs, and the
    # detector learns them as normal.
    plain = GridSearchCV(
        OneClassSVM(gamma=0.1), {"nu": [0.01, 0.1, 0.5]}, scoring=make_novelty_scorer("cat"), cv=cv
    ).fit(X, y)
    assert plain.best_score_ < 0.8


def test_fixed_validation_set_with_predefined_split():
    # Unlabelled inliers to fit on, plus a small labelled validation set.
    X_fit, _ = _blobs(n_in=150, n_out=0, seed=3)
    X_val, y_val = _blobs(n_in=40, n_out=20, seed=4)
    X = np.vstack([X_fit, X_val])
    y = np.concatenate([["cat"] * 150, y_val])
    cv = PredefinedSplit([-1] * 150 + [0] * 60)  # -1: never in a test fold
    detector = FitOnInliers(OneClassSVM(gamma=0.1, nu=0.1), inlier_label="cat")

    (score,) = cross_val_score(detector, X, y, cv=cv, scoring=make_novelty_scorer("cat"))
    by_hand = OneClassSVM(gamma=0.1, nu=0.1).fit(X_fit)
    assert score == novelty_roc_auc_score(y_val, by_hand.score_samples(X_val), inlier_label="cat")


def test_cross_validating_an_image_pipeline_embeds_each_image_once(image_files, flat_files, forward_count):
    paths = np.array(image_files(24, seed=1) + flat_files(12))
    labels = np.array(["noise"] * 24 + ["flat"] * 12)
    detector = FitOnInliers(make_pipeline(tiny(), Normalizer(), OneClassSVM()), inlier_label="noise")
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    scores = cross_val_score(detector, paths, labels, cv=cv, scoring=make_novelty_scorer("noise"))
    assert scores.shape == (3,) and (scores > 0.9).all()
    assert forward_count() == 36


# --------------------------------------------------------------------------- #
# Real photos
# --------------------------------------------------------------------------- #


@needs_shared
@pytest.mark.slow
def test_one_class_svm_on_cats_tells_cats_from_dogs(shared_cache):
    paths, labels = load_image_folder(TRAIN)
    rng = np.random.default_rng(0)
    cats = rng.choice(np.flatnonzero(labels == "cat"), 100, replace=False)
    dogs = rng.choice(np.flatnonzero(labels == "dog"), 50, replace=False)
    pick = np.concatenate([cats, dogs])
    embedder = KerasEmbeddingTransformer(backbone="efficientnet_lite0", cache=shared_cache)
    detector = FitOnInliers(make_pipeline(embedder, Normalizer(), OneClassSVM()), inlier_label="cat")
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    auroc = cross_val_score(detector, paths[pick], labels[pick], cv=cv, scoring=make_novelty_scorer("cat"))
    # Each fold fits on ~67 cats and scores ~33 cats against ~17 dogs. Over 200
    # random draws of these photos the mean over the folds was 0.989 at worst
    # (median 0.998); random weights or a broken preprocessing land far lower.
    assert auroc.mean() > 0.97
