"""skcatdog.active: query strategies, the loop, rare-class retrieval."""

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.datasets import make_classification
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils._param_validation import InvalidParameterError

from skcatdog.active import (
    STRATEGIES,
    ActiveLearningResult,
    active_learning_loop,
    precision_at_k,
    query,
    top_k,
    uncertainty,
)
from tests._helpers import tiny_transformer


class FixedProba(ClassifierMixin, BaseEstimator):
    """A 'fitted' classifier whose predict_proba returns rows of a fixed table, by X's single column."""

    def __init__(self, table):
        self.table = table

    def fit(self, X, y):
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X):
        return np.asarray(self.table, dtype=float)[np.asarray(X, dtype=int).ravel()]


def fixed(table):
    est = FixedProba(table)
    est.classes_ = np.arange(np.shape(table)[1])
    return est, np.arange(len(table)).reshape(-1, 1)


# Row 1 has the highest entropy, row 2 the smallest margin, row 3 the lowest top probability.
THREE_CLASS = [
    [0.90, 0.05, 0.05],  # 0: confident
    [0.40, 0.30, 0.30],  # 1: entropy 1.089 (max), margin 0.90, least-confidence 0.60
    [0.45, 0.45, 0.10],  # 2: entropy 0.984, margin 1.00 (max), least-confidence 0.55
    [0.34, 0.33, 0.33],  # 3: entropy 1.0986, margin 0.99, least-confidence 0.66 (max)
]


# --- uncertainty and query on hand-made probabilities ---------------------


def test_entropy_is_the_issues_binary_formula():
    p = np.array([0.0, 1e-9, 0.1, 0.3, 0.5, 0.8, 1.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        expected = -(p * np.log(p) + (1 - p) * np.log(1 - p))
    expected = np.nan_to_num(expected)  # 0 log 0 = 0
    np.testing.assert_allclose(uncertainty(np.column_stack([1 - p, p]), "entropy"), expected, atol=1e-12)
    np.testing.assert_allclose(uncertainty(p, "entropy"), expected, atol=1e-12)  # 1-D = P(positive)
    assert uncertainty([[0.5, 0.5]])[0] == pytest.approx(np.log(2))


def test_margin_and_least_confidence_values():
    proba = np.array([[0.7, 0.2, 0.1], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0]])
    np.testing.assert_allclose(uncertainty(proba, "margin"), [1 - 0.5, 1.0, 0.0])
    np.testing.assert_allclose(uncertainty(proba, "least_confidence"), [0.3, 0.5, 0.0])
    np.testing.assert_allclose(uncertainty(proba, "entropy")[2], 0.0)


@pytest.mark.parametrize(
    "strategy, first",
    [("entropy", [3, 1]), ("margin", [2, 3]), ("least_confidence", [3, 1])],
)
def test_each_strategy_picks_its_most_uncertain_rows(strategy, first):
    est, X = fixed(THREE_CLASS)
    assert query(est, X, 2, strategy=strategy).tolist() == first
    assert query(est, X, 4, strategy=strategy)[-1] == 0  # the confident row comes last


def test_binary_strategies_agree_and_pick_the_rows_nearest_one_half():
    p = np.array([0.99, 0.45, 0.02, 0.7, 0.52, 0.1])
    est, X = fixed(np.column_stack([1 - p, p]))
    for strategy in ("entropy", "margin", "least_confidence"):
        assert query(est, X, 3, strategy=strategy).tolist() == [4, 1, 3]


def test_ties_are_broken_by_index():
    est, X = fixed([[0.5, 0.5], [0.9, 0.1], [0.5, 0.5], [0.1, 0.9], [0.5, 0.5]])
    assert query(est, X, 3).tolist() == [0, 2, 4]
    assert query(est, X, 5).tolist() == [0, 2, 4, 1, 3]


def test_exclude_skips_labelled_rows():
    est, X = fixed(THREE_CLASS)
    assert query(est, X, 2, strategy="entropy", exclude=[3]).tolist() == [1, 2]
    assert query(est, X, 2, strategy="entropy", exclude=np.array([False, True, False, True])).tolist() == [2, 0]
    assert query(est, X, 10, exclude=range(4)).tolist() == []


def test_n_queries_past_the_pool_returns_what_is_left():
    est, X = fixed(THREE_CLASS)
    assert sorted(query(est, X, 10, exclude=[0])) == [1, 2, 3]
    assert sorted(query(None, X, 10, strategy="random", exclude=[0], random_state=0)) == [1, 2, 3]


def test_random_is_reproducible_per_random_state_and_respects_exclude():
    X = np.zeros((1000, 2))
    a = query(None, X, 20, strategy="random", random_state=1, exclude=range(500))
    b = query(None, X, 20, strategy="random", random_state=1, exclude=range(500))
    c = query(None, X, 20, strategy="random", random_state=2, exclude=range(500))
    assert a.tolist() == b.tolist() and a.tolist() != c.tolist()
    assert len(set(a.tolist())) == 20 and a.min() >= 500


def test_unknown_strategy_lists_the_valid_ones():
    est, X = fixed(THREE_CLASS)
    with pytest.raises(InvalidParameterError, match="'strategy' parameter of query") as exc:
        query(est, X, 2, strategy="variance")
    assert all(name in str(exc.value) for name in ("entropy", "margin", "least_confidence", "random"))
    with pytest.raises(InvalidParameterError, match="'strategy' parameter of uncertainty") as exc:
        uncertainty([[0.5, 0.5]], "random")
    assert "'entropy'" in str(exc.value) and "'random'" not in str(exc.value).split("Got")[0]


def test_unfitted_or_probability_free_estimators_are_refused():
    X, y = make_classification(50, random_state=0)
    with pytest.raises(NotFittedError):
        query(LogisticRegression(), X, 5)
    with pytest.raises(NotFittedError):
        query(make_pipeline(StandardScaler(), LogisticRegression()), X, 5)
    with pytest.raises(InvalidParameterError, match="'estimator' parameter of query.*predict_proba"):
        query(SVC().fit(X, y), X, 5)
    with pytest.raises(InvalidParameterError, match="'estimator' parameter of active_learning_loop.*predict_proba"):
        active_learning_loop(SVC(), X, lambda i: y[i])
    with pytest.raises(ValueError, match="pass an estimator"):
        query(None, X, 5)  # only "random" works without one


def test_bad_counts_and_indices():
    est, X = fixed(THREE_CLASS)
    with pytest.raises(InvalidParameterError, match="'n_queries' parameter of query"):
        query(est, X, 0)
    with pytest.raises(ValueError, match="outside the pool of 4"):
        query(est, X, 1, exclude=[4])
    with pytest.raises(ValueError, match="integer indices"):
        query(est, X, 1, exclude=[0.5])


# --- the loop --------------------------------------------------------------


def data(n=300, n_classes=2, seed=0):
    return make_classification(
        n, n_features=10, n_informative=5, n_classes=n_classes, n_clusters_per_class=1, random_state=seed
    )


def test_loop_asks_the_oracle_for_exactly_what_it_queries_and_grows_by_batch_size():
    X, y = data()
    calls = []

    def oracle(indices):
        calls.append(indices.tolist())
        return y[indices]

    # A callback that replays each round's query shows what the oracle should have been asked.
    expected = []

    def callback(record, estimator):
        labelled = np.concatenate([np.asarray(c) for c in calls])
        expected.append(query(estimator, X, 7, exclude=labelled).tolist())

    result = active_learning_loop(
        LogisticRegression(), X, oracle, initial=20, n_rounds=4, batch_size=7, random_state=0, callback=callback
    )
    assert isinstance(result, ActiveLearningResult)
    assert [len(c) for c in calls] == [20, 7, 7, 7, 7]
    assert calls[1:] == expected[:-1]  # each round queried what the previous fit found most uncertain
    assert [r["n_labelled"] for r in result.history] == [20, 27, 34, 41, 48]
    assert result.indices.tolist() == sum(calls, [])
    assert len(set(result.indices.tolist())) == 48
    np.testing.assert_array_equal(result.labels, y[result.indices])
    # The returned estimator is fitted on every label, and the input one is untouched.
    refit = LogisticRegression().fit(X[result.indices], y[result.indices])
    np.testing.assert_allclose(result.estimator.coef_, refit.coef_)
    # Queried rows carry their entropy, high ones first.
    scores = result.history[1]["scores"]
    assert np.all(np.diff(scores) <= 0) and np.all(scores > 0)


def test_loop_with_explicit_initial_indices_and_random_strategy_is_reproducible():
    X, y = data()

    def run(seed):
        return active_learning_loop(
            LogisticRegression(),
            X,
            lambda i: y[i],
            initial=np.arange(10),
            n_rounds=3,
            batch_size=5,
            strategy="random",
            random_state=seed,
        ).indices.tolist()

    assert run(0)[:10] == list(range(10))
    assert run(0) == run(0) and run(0) != run(1)


def test_entropy_beats_random_on_an_easy_problem():
    X, y = data(1000, seed=3)
    X_pool, y_pool, X_test, y_test = X[:800], y[:800], X[800:], y[800:]

    def final_accuracy(strategy, seed):
        r = active_learning_loop(
            LogisticRegression(),
            X_pool,
            lambda i: y_pool[i],
            initial=10,
            n_rounds=6,
            batch_size=5,
            strategy=strategy,
            random_state=seed,
        )
        return r.estimator.score(X_test, y_test)

    entropy = np.mean([final_accuracy("entropy", s) for s in range(5)])
    random = np.mean([final_accuracy("random", s) for s in range(5)])
    assert entropy >= random


@pytest.mark.parametrize("bad", [lambda i: [0] * (len(i) - 1), lambda i: None, lambda i: np.zeros((len(i), 2))])
def test_oracle_returning_the_wrong_number_of_labels_is_named(bad):
    X, y = data()
    with pytest.raises(ValueError, match="oracle returned"):
        active_learning_loop(LogisticRegression(), X, bad, initial=10, random_state=0)


def test_oracle_failing_in_a_later_round_is_named():
    X, y = data()
    rounds = []

    def oracle(indices):
        rounds.append(1)
        return y[indices] if len(rounds) < 3 else y[indices][:-1]

    with pytest.raises(ValueError, match=r"oracle returned labels of shape \(4,\) for 5 indices"):
        active_learning_loop(LogisticRegression(), X, oracle, initial=10, batch_size=5, random_state=0)


def test_single_class_start_keeps_drawing_at_random_until_a_second_class_appears():
    X, y = data(200)
    y = np.where(np.arange(200) < 190, "cat", "dog")  # 10 dogs, at the end
    initial = np.arange(30)  # all cats
    result = active_learning_loop(
        LogisticRegression(), X, lambda i: y[i], initial=initial, n_rounds=1, batch_size=20, random_state=0
    )
    first = result.history[0]
    assert set(first["labels"]) == {"cat", "dog"}
    assert (first["n_labelled"] - 30) % 20 == 0 or first["n_labelled"] == 200
    assert result.history[1]["n_labelled"] == first["n_labelled"] + 20

    with pytest.raises(ValueError, match="every one of the 20 pool samples is labelled 'cat'"):
        active_learning_loop(LogisticRegression(), X[:20], lambda i: y[i], initial=5, random_state=0)


def test_loop_stops_when_the_pool_runs_out_or_the_callback_says_so():
    X, y = data(40)
    result = active_learning_loop(
        LogisticRegression(), X, lambda i: y[i], initial=20, n_rounds=10, batch_size=8, random_state=0
    )
    assert [r["n_labelled"] for r in result.history] == [20, 28, 36, 40]
    result = active_learning_loop(
        LogisticRegression(),
        X,
        lambda i: y[i],
        initial=20,
        n_rounds=10,
        batch_size=2,
        random_state=0,
        callback=lambda record, est: record["n_labelled"] >= 24,
    )
    assert [r["n_labelled"] for r in result.history] == [20, 22, 24]


def test_loop_is_multiclass():
    X, y = data(300, n_classes=3)
    seen = []
    result = active_learning_loop(
        LogisticRegression(),
        X,
        lambda i: y[i],
        initial=15,
        n_rounds=3,
        batch_size=10,
        strategy="margin",
        random_state=0,
        callback=lambda record, est: seen.append(len(est.classes_)),
    )
    assert result.estimator.classes_.tolist() == [0, 1, 2]
    assert result.indices.size == 45 and seen[-1] == 3


def test_loop_with_a_pipeline_and_verbose_progress(capsys):
    X, y = data()
    model = make_pipeline(StandardScaler(), LogisticRegression())
    result = active_learning_loop(
        model, X, lambda i: y[i], initial=10, n_rounds=2, batch_size=5, random_state=0, verbose=1
    )
    assert result.indices.size == 20 and not hasattr(model, "classes_")  # the input is cloned, never fitted
    assert "active learning" in capsys.readouterr().err
    active_learning_loop(model, X, lambda i: y[i], initial=10, n_rounds=2, batch_size=5, random_state=0)
    assert capsys.readouterr().err == ""  # verbose=0 is silent
    assert query(result.estimator, X, 3, exclude=result.indices).size == 3


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_every_strategy_runs_in_the_loop(strategy):
    X, y = data()
    result = active_learning_loop(
        LogisticRegression(), X, lambda i: y[i], initial=10, n_rounds=2, batch_size=4, strategy=strategy, random_state=0
    )
    assert result.indices.size == 18


# --- retrieval -------------------------------------------------------------


def test_precision_at_k_on_hand_made_data():
    y = np.array(["dog", "cat", "dog", "cat", "cat", "dog"])
    score = np.array([0.9, 0.8, 0.7, 0.6, 0.1, 0.05])
    assert precision_at_k(y, score, 1, pos_label="dog") == 1.0
    assert precision_at_k(y, score, 2, pos_label="dog") == 0.5
    assert precision_at_k(y, score, 3, pos_label="dog") == pytest.approx(2 / 3)
    assert precision_at_k(y, score, 6, pos_label="dog") == 0.5  # the base rate
    assert precision_at_k(y, score, 2, pos_label="cat") == 0.5
    assert precision_at_k([1, 0, 1], [0.5, 0.5, 0.5], 1, pos_label=1) == 1.0  # ties go to the lower index
    with pytest.raises(ValueError, match="larger than the 6 samples"):
        precision_at_k(y, score, 7, pos_label="dog")
    with pytest.raises(ValueError, match="same length"):
        precision_at_k(y, score[:3], 2, pos_label="dog")


def test_top_k_ranks_by_the_positive_class_probability():
    p = np.array([0.2, 0.95, 0.5, 0.99, 0.01])
    est, X = fixed(np.column_stack([1 - p, p]))
    est.classes_ = np.array(["cat", "dog"])
    assert top_k(est, X, 3, "dog").tolist() == [3, 1, 2]
    assert top_k(est, X, 2, "cat").tolist() == [4, 0]
    assert top_k(est, X, 10, "dog", exclude=[3]).tolist() == [1, 2, 0, 4]
    with pytest.raises(ValueError, match="pos_label 'bird'.*cat.*dog"):
        top_k(est, X, 3, "bird")


def test_top_k_finds_a_rare_class():
    X, y = make_classification(2000, n_features=10, weights=[0.9], class_sep=2.0, random_state=0)
    clf = LogisticRegression().fit(X[:1000], y[:1000])
    ranked = top_k(clf, X[1000:], 50, 1)
    base = np.mean(y[1000:] == 1)
    assert np.mean(y[1000:][ranked] == 1) > 3 * base
    score = clf.predict_proba(X[1000:])[:, 1]
    assert precision_at_k(y[1000:], score, 50, pos_label=1) == np.mean(y[1000:][ranked] == 1)


# --- with the embedding transformer -----------------------------------------


def test_pipeline_on_image_paths_rescores_the_pool_from_the_cache(image_files, forward_count):
    paths = np.array(image_files(12, seed=5))
    labels = np.array(["cat", "dog"] * 6)
    embed = tiny_transformer(views="crop")
    model = make_pipeline(embed, LogisticRegression())
    forwarded = []
    result = active_learning_loop(
        model,
        paths,
        lambda i: labels[i],
        initial=[0, 1, 2, 3],
        n_rounds=3,
        batch_size=2,
        random_state=0,
        callback=lambda record, est: forwarded.append(forward_count()),
    )
    # The initial fit embeds 4 photos; the first query scores the other 8, which caches the whole pool.
    assert forwarded[0] == 4
    assert forwarded[1] == 12
    assert forwarded[1:] == [12, 12, 12]  # rounds 2 and 3: fit and query, no forward pass
    assert top_k(result.estimator, paths, 3, "dog").size == 3 and forward_count() == 12
