"""training_report and prediction_report: one cross-validation, the audit's verdicts, the page, notebooks, bad input."""

import csv
import importlib.util
import inspect
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_validate

from skcatdog import ImageLoadError, make_pipeline
from skcatdog.audit.report import read_decisions
from skcatdog.report import PhotoTable, check_report_path, prediction_report, training_report
from tests.conftest import TRAIN, needs_shared, random_images, tiny_transformer

ROOT = Path(__file__).resolve().parents[1]
EVIL = "<script>alert(1)<\\script>.jpg"


def _model():
    # ImageNet weights' rows, as find_issues reads them (the tiny network ignores its weights)
    return make_pipeline(tiny_transformer(weights="imagenet"), LogisticRegression(max_iter=1000))


@pytest.fixture
def photos(tmp_path):
    """Ten dark "cats" and ten bright "dogs" on disk, one of them named like a script."""
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    paths, labels = [], []
    for label, seed, scale in (("cat", 1, 3), ("dog", 2, 1)):
        for i, arr in enumerate(random_images(10, seed=seed, size=(60, 50))):
            path = folder / (EVIL if (label, i) == ("dog", 9) else f"{label}.{i}.jpg")
            Image.fromarray(arr // scale).save(path)
            paths.append(str(path))
            labels.append(label)
    return paths, np.array(labels)


@pytest.fixture
def report(photos, forward_count):
    paths, labels = photos
    labels = labels.copy()
    labels[[0, 19]] = ["dog", "cat"]  # two flips: mistakes to show
    made = training_report(_model(), paths, labels, cv=3)
    made.forwarded = forward_count()
    return made


def test_one_cross_validation_gives_the_scores_and_the_mistakes(report, photos):
    paths, _ = photos
    assert report.forwarded == 2 * len(paths)  # each photo once per view: the audit and the folds share rows
    assert list(report.fold_scores.columns) == ["fold", "photos", "log_loss", "accuracy"]
    assert report.fold_scores["photos"].sum() == len(paths) and sorted(set(report.folds)) == [0, 1, 2]
    assert report.y_proba.shape == (len(paths), 2) and np.allclose(report.y_proba.sum(axis=1), 1)
    mistakes = report.mistakes
    assert list(mistakes.columns) == [
        "item",
        "given_label",
        "predicted_label",
        "proba_given",
        "fold",
        "top_imagenet",
        "audit",
        "suggested_label",
        "audit_detail",
    ]
    assert len(mistakes) == (report.y_proba.argmax(axis=1) != np.searchsorted(report.classes, report.y_true)).sum()
    assert (np.diff(mistakes["proba_given"]) >= 0).all()  # worst first
    assert (mistakes["given_label"] != mistakes["predicted_label"]).all()
    assert set(mistakes["audit"]) <= {"wrong label", "off-topic", "poor photo", "none"}
    assert all(len(top.split(", ")) == 5 for top in mistakes["top_imagenet"])


def test_the_scores_are_those_of_cross_validate_on_the_same_folds(photos):
    paths, labels = photos
    report = training_report(_model(), paths, labels, cv=StratifiedKFold(4, shuffle=True, random_state=1), audit=False)
    assert set(report.mistakes["audit"]) <= {"none"} and report.issues.empty
    cv = StratifiedKFold(4, shuffle=True, random_state=1)
    plain = cross_validate(_model(), paths, labels, cv=cv, scoring=["neg_log_loss", "accuracy"])
    assert np.allclose(report.fold_scores["log_loss"], -plain["test_neg_log_loss"])
    assert np.allclose(report.fold_scores["accuracy"], plain["test_accuracy"])


def test_the_page_is_one_escaped_file_with_figures_thumbnails_and_decisions(report, tmp_path):
    path = report.write(tmp_path / "report.html")
    page = path.read_text(encoding="utf-8")
    assert page.startswith("<!DOCTYPE html>") and 'src="http' not in page
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    assert page.count("data:image/png;base64,") == 3  # the folds, the calibration curve, the confusion matrix
    assert page.count('class="card"') == len(report.mistakes)
    assert "0.06127" in page and "0.04156" in page and "Export decisions" in page
    decisions = report.write_decisions(tmp_path / "decisions.csv")
    assert set(read_decisions(decisions)) == set(report.mistakes["item"])
    with open(decisions, newline="") as f:
        assert next(csv.reader(f)) == ["item", "action", "label"]


def test_decisions_follow_the_audit(photos):
    from skcatdog.report._build import _decisions

    mistakes = pd.DataFrame({"item": ["a.jpg", "b.jpg", "c.jpg"]})
    issues = pd.DataFrame(
        [
            ("a.jpg", "label_error", 0.9, None, "cat", "dog", ""),
            ("b.jpg", "off_topic", 0.5, None, "cat", None, ""),
        ],
        columns=["item", "issue", "score", "group", "given_label", "suggested_label", "detail"],
    )
    assert _decisions(mistakes, issues) == [("a.jpg", "relabel", "dog"), ("b.jpg", "drop", ""), ("c.jpg", "keep", "")]


def test_notebooks_see_thumbnails_and_an_unchanged_table(report):
    shown = report._repr_html_()
    assert "<img" in shown and "&lt;script&gt;alert(1)" in shown and "<script>alert(1)" not in shown
    table = report.mistakes
    assert isinstance(table, pd.DataFrame)
    pd.testing.assert_frame_equal(pd.DataFrame(table), pd.DataFrame(dict(table)), check_frame_type=False)
    cell = table._repr_html_()
    assert cell.count("data:image/jpeg;base64,") == len(table) and "<script>alert(1)" not in cell
    assert table.head(1)._repr_html_().count("data:image/jpeg;base64,") == min(1, len(table))  # slices keep photos
    assert "<img" not in table[["fold"]]._repr_html_()  # without photos, pandas' own view


def test_a_photo_table_of_arrays_shows_them():
    arrays = random_images(2, size=(20, 30))
    table = PhotoTable({"item": ["X[0] (array)", "X[1] (array)"], "n": [1, 2]}, images=arrays)
    assert table._repr_html_().count("data:image/jpeg;base64,") == 2
    assert table.sort_values("n", ascending=False)._repr_html_().count("data:image/jpeg;base64,") == 2


def test_prediction_report_least_confident_first(photos, tmp_path, forward_count):
    paths, labels = photos
    model = _model().fit(paths, labels)
    before = forward_count()
    report = prediction_report(model, paths[:6])
    assert forward_count() == before  # the rows fit embedded
    table = report.predictions
    assert list(table.columns) == ["item", "predicted_label", "confidence", "top_imagenet", "audit", "audit_detail"]
    assert (np.diff(table["confidence"]) >= 0).all()
    assert np.allclose(report.y_proba, model.predict_proba(paths[:6]))
    assert set(table["audit"]) <= {"poor photo", "none"}
    page = report.write(tmp_path / "predictions.html").read_text(encoding="utf-8")
    assert page.count('class="card"') == 6 and "<img" in report._repr_html_()


def test_bad_input_gives_one_clear_error(photos, tmp_path):
    paths, labels = photos
    with pytest.raises(ValueError, match="does not take photos: it has no KerasEmbeddingTransformer"):
        training_report(LogisticRegression(), paths, labels)
    with pytest.raises(ValueError, match="every photo is labelled 'cat'"):
        training_report(_model(), paths, ["cat"] * len(paths))
    with pytest.raises(ValueError, match="the label 'dog' has 2 photos, fewer than the 3 folds"):
        training_report(_model(), paths[:12], labels[:10].tolist() + ["dog", "dog"], cv=3)
    with pytest.raises(ValueError, match="one label per photo"):
        training_report(_model(), paths, labels[:-1])
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo")
    with pytest.raises(ImageLoadError) as info:
        training_report(_model(), [*paths, str(broken)], [*labels, "cat"], cv=3)
    assert [name for name, _ in info.value.problems] == [str(broken)]
    with pytest.raises(ValueError, match="is not fitted"):
        prediction_report(_model(), paths)
    with pytest.raises(ValueError, match="does not take photos"):
        prediction_report(LogisticRegression().fit([[0], [1]], [0, 1]), paths)
    missing = tmp_path / "no" / "such" / "report.html"
    with pytest.raises(ValueError, match="the folder .*such' does not exist"):
        check_report_path(missing)
    with pytest.raises(ValueError, match="is a folder"):
        check_report_path(tmp_path)


def test_a_missing_folder_refuses_the_page_and_writes_nothing(report, tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        report.write(tmp_path / "absent" / "report.html")
    with pytest.raises(ValueError, match="does not exist"):
        report.write_decisions(tmp_path / "absent" / "decisions.csv")
    assert not (tmp_path / "absent").exists()


def test_the_public_docstrings_pass_numpydoc():
    validate = pytest.importorskip("numpydoc.validate").validate
    import skcatdog.report as module

    ignored = {"GL01", "GL02", "ES01", "SA01", "EX01", "RT02"}  # as tests/test_docstrings.py
    names = []
    for name in module.__all__:
        obj = getattr(module, name)
        names.append(f"{obj.__module__}.{obj.__qualname__}")
        if inspect.isclass(obj):
            names += [
                f"{obj.__module__}.{obj.__qualname__}.{attr}"
                for attr, member in vars(obj).items()
                if not attr.startswith("_") and (inspect.isfunction(member) or isinstance(member, property))
            ]
    errors = {n: [e for e in validate(n)["errors"] if e[0] not in ignored] for n in names}
    assert not {n: e for n, e in errors.items() if e}


def _render_check():
    spec = importlib.util.spec_from_file_location("check_report_renders", ROOT / "tools" / "check_report_renders.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_page_renders_in_headless_chromium(report, tmp_path):
    check = _render_check()
    if check.find_chromium() is None:
        pytest.skip("no Chromium on PATH")
    # a tall window: the contact sheet is below the figures
    page = report.write(tmp_path / "report.html")
    ok, message = check.check(page, window=(1200, 2400), what="the figures and thumbnails")
    assert ok, message


@needs_shared
@pytest.mark.slow
def test_flipped_labels_lead_the_mistakes_as_wrong_labels(shared_cache, tmp_path):
    from skcatdog import load_image_folder, make_default_pipeline

    paths, labels = load_image_folder(TRAIN)
    rng = np.random.default_rng(0)
    picks = np.concatenate([rng.choice(np.flatnonzero(labels == c), 10, replace=False) for c in ("cat", "dog")])
    flipped = labels.copy()
    flipped[picks] = np.where(labels[picks] == "cat", "dog", "cat")
    report = training_report(make_default_pipeline(cache=shared_cache), paths, flipped)
    first = report.mistakes.head(40)
    truth = dict(zip(paths[picks], labels[picks], strict=True))
    found = first[first["item"].isin(truth)]
    right = found[(found["audit"] == "wrong label") & (found["suggested_label"] == found["item"].map(truth))]
    assert len(right) >= 15, first[["item", "given_label", "proba_given", "audit", "suggested_label"]]
    assert report.log_loss < 0.1
    check = _render_check()
    if check.find_chromium() is not None:
        ok, message = check.check(report.write(tmp_path / "report.html"), window=(1200, 2400))
        assert ok, message
