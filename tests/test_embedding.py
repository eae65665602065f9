"""KerasEmbeddingTransformer as scikit-learn users use it."""

import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, StratifiedKFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from skcatdog import KerasEmbeddingTransformer
from tests._helpers import random_images

ROOT = Path(__file__).resolve().parents[1]


def tiny(**kw):
    # One view, so that forward-pass counts are per image; the default's two views are tested below.
    return KerasEmbeddingTransformer(**{"backbone": "tiny_test", "weights": None, "views": "crop", **kw})


def test_defaults_and_params_roundtrip():
    est = KerasEmbeddingTransformer()
    assert est.get_params() == {
        "backbone": "efficientnet_lite2",
        "weights": "imagenet",
        "batch_size": "auto",
        "cache": "auto",
        "n_jobs": -1,
        "precision": "auto",
        "decoder": "auto",
        "verbose": 0,
        "views": ("crop", "full"),
    }
    est.set_params(batch_size=8, backbone="tiny_test")
    assert clone(est).get_params()["batch_size"] == 8


def test_fit_returns_self_and_learns_nothing(image_files, forward_count):
    paths = image_files(4)
    est = tiny()
    assert est.fit(paths) is est
    assert est.n_features_out_ == 8
    assert forward_count() == 0


def test_transform_works_unfitted_because_it_is_stateless(image_files):
    out = tiny().transform(image_files(3))
    assert out.shape == (3, 8) and out.dtype == np.float32


def test_accepts_paths_pathlike_series_and_arrays(image_files):
    pd = pytest.importorskip("pandas")
    paths = image_files(3)
    est = tiny()
    expected = est.transform(paths)
    np.testing.assert_array_equal(est.transform([Path(p) for p in paths]), expected)
    np.testing.assert_array_equal(est.transform(pd.Series(paths)), expected)
    np.testing.assert_array_equal(est.transform(np.array(paths)), expected)
    images = random_images(3)
    np.testing.assert_array_equal(est.transform(np.stack(images)), est.transform(images))


def test_sample_order_and_subset_invariance(image_files):
    paths = image_files(7)
    est = tiny(batch_size=3)
    full = est.transform(paths)
    perm = np.random.default_rng(0).permutation(7)
    np.testing.assert_allclose(est.transform([paths[i] for i in perm]), full[perm], atol=1e-6)
    np.testing.assert_allclose(tiny(cache=None, batch_size=2).transform(paths[2:5]), full[2:5], atol=1e-6)


def test_fit_does_not_change_params_or_input(image_files):
    paths = image_files(3)
    est = tiny()
    before = est.get_params()
    copy = list(paths)
    est.fit_transform(paths)
    assert est.get_params() == before and paths == copy


@pytest.mark.parametrize(
    "param,value,match",
    [
        ("backbone", "resnet9000", "unknown backbone"),
        ("backbone", [], "'backbone' parameter of KerasEmbeddingTransformer"),
        ("backbone", 3, "'backbone' parameter of KerasEmbeddingTransformer"),
        ("batch_size", 0, "'batch_size' parameter of KerasEmbeddingTransformer"),
        ("n_jobs", 0, "'n_jobs' parameter of KerasEmbeddingTransformer"),
        ("precision", "half", "'precision' parameter of KerasEmbeddingTransformer"),
        ("decoder", "threads", "'decoder' parameter of KerasEmbeddingTransformer"),
        ("cache", 3.5, "'cache' parameter of KerasEmbeddingTransformer"),
        ("weights", "/no/such/weights.h5", "does not exist: '/no/such/weights.h5'"),
        ("weights", 7, "'weights' parameter of KerasEmbeddingTransformer"),
    ],
)
def test_bad_parameters_are_named_at_fit(image_files, param, value, match):
    est = tiny().set_params(**{param: value})
    with pytest.raises(ValueError, match=match) as exc:
        est.fit(image_files(1))
    if value != "resnet9000":
        assert isinstance(exc.value, InvalidParameterError)


def test_parameters_are_keyword_only():
    with pytest.raises(TypeError, match="positional"):
        KerasEmbeddingTransformer("tiny_test", None, 8)


def test_transform_validates_once_per_parameter_set(image_files, monkeypatch):
    calls = []
    real = KerasEmbeddingTransformer._validate_params
    monkeypatch.setattr(KerasEmbeddingTransformer, "_validate_params", lambda self: calls.append(1) or real(self))
    paths = image_files(2)
    est = tiny()
    est.transform(paths)
    est.transform(paths)
    assert len(calls) == 1
    est.set_params(batch_size=0)  # a new parameter set is validated on its first use
    with pytest.raises(InvalidParameterError, match="batch_size"):
        est.transform(paths)
    est.set_params(batch_size=4).fit(paths)  # fit always validates
    est.transform(paths)
    assert len(calls) == 3


def test_feature_names_and_pandas_output(image_files):
    pd = pytest.importorskip("pandas")
    paths = image_files(3)
    est = tiny().set_output(transform="pandas")
    names = est.fit(paths).get_feature_names_out()
    assert list(names) == [f"tiny_test_{i}" for i in range(8)]
    frame = est.transform(pd.Series(paths, index=[10, 11, 12]))
    assert isinstance(frame, pd.DataFrame)
    assert list(frame.columns) == list(names) and list(frame.index) == [10, 11, 12]


def test_pickle_is_small_and_holds_no_model(image_files):
    est = tiny()
    est.fit_transform(image_files(2))
    blob = pickle.dumps(est)
    assert len(blob) < 2000
    restored = pickle.loads(blob)
    assert restored.get_params() == est.get_params()
    np.testing.assert_array_equal(restored.transform(image_files(2)), est.transform(image_files(2)))


def test_gridsearch_over_classifier_makes_no_forward_pass_after_the_first_fold(image_files, forward_count):
    paths = image_files(24, seed=3)
    labels = np.array(["cat", "dog"] * 12)
    pipe = make_pipeline(tiny(), LogisticRegression())
    grid = {"logisticregression__C": [0.1, 1.0, 10.0]}
    search = GridSearchCV(pipe, grid, cv=StratifiedKFold(3), scoring="neg_log_loss")
    search.fit(paths, labels)
    # 9 fits and 9 scorings, plus the refit, yet each image went through the CNN once.
    assert forward_count() == 24
    assert np.all(np.isfinite(search.cv_results_["mean_test_score"]))


def test_cross_val_score_log_loss_in_a_pipeline(image_files, forward_count):
    paths = image_files(20, seed=4)
    labels = np.array(["a", "b"] * 10)
    scores = cross_val_score(make_pipeline(tiny(), LogisticRegression()), paths, labels, cv=2, scoring="neg_log_loss")
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    assert forward_count() == 20


def test_verbose_zero_is_silent_and_one_shows_progress(image_files, capsys):
    paths = image_files(3)
    tiny(verbose=0, cache=None).transform(paths)
    assert capsys.readouterr().err == ""
    tiny(verbose=1, cache=None).transform(paths)
    assert "tiny_test" in capsys.readouterr().err


@pytest.mark.slow
def test_pickled_pipeline_predicts_the_same_in_a_fresh_process(image_files, tmp_path):
    paths = image_files(12, seed=8)
    labels = np.array(["cat", "dog"] * 6)
    pipe = make_pipeline(KerasEmbeddingTransformer(backbone="efficientnet_lite0"), LogisticRegression())
    pipe.fit(paths, labels)
    expected = pipe.predict_proba(paths)
    model = tmp_path / "model.pkl"
    model.write_bytes(pickle.dumps(pipe))
    assert model.stat().st_size < 100_000
    script = (
        "import os, pickle, sys, numpy as np; os.environ['TF_CPP_MIN_LOG_LEVEL'] = '3';"
        f"pipe = pickle.load(open({str(model)!r}, 'rb'));"
        f"np.save(sys.argv[1], pipe.predict_proba({paths!r}))"
    )
    out = tmp_path / "proba.npy"
    # A fresh process, a cold cache: the model is rebuilt from the registry and weights.
    env = {**__import__("os").environ, "SKCATDOG_CACHE_DIR": str(tmp_path / "fresh-cache")}
    subprocess.run([sys.executable, "-c", script, str(out)], check=True, env=env, cwd=tmp_path, timeout=300)
    np.testing.assert_allclose(np.load(out), expected, atol=1e-5)


def test_views_average_and_each_view_is_cached_once(image_files, forward_count):
    paths = image_files(4)
    crop = tiny(views="crop").transform(paths)
    both = tiny(views=("crop", "full")).transform(paths)
    full = tiny(views="full").transform(paths)
    assert forward_count() == 8  # crop rows were reused by the two-view transformer
    np.testing.assert_allclose(both, (crop + full) / 2, rtol=1e-6, atol=1e-7)
    assert not np.allclose(crop, full)


@pytest.mark.parametrize("views", ["zoom", (), ("crop", "crop"), 3])
def test_bad_views_are_refused(views, image_files):
    with pytest.raises(InvalidParameterError, match="'views' parameter of KerasEmbeddingTransformer"):
        tiny(views=views).fit(image_files(1))


def test_the_decoder_is_a_parameter_and_pillow_is_what_auto_picks_without_a_gpu(image_files, forward_count):
    from skcatdog import _engine

    paths = image_files(4)
    assert _engine.resolve_decoder("auto") == "pillow"  # no GPU here
    auto = tiny().transform(paths)
    est = tiny(decoder="pillow")
    assert clone(est).get_params()["decoder"] == "pillow"
    np.testing.assert_array_equal(est.transform(paths), auto)  # the same rows, from the cache
    assert forward_count() == 4
