"""find_issues on embeddings the caller already has: the photo audit's results, no photo read, bad input refused."""

import numpy as np
import pytest

from skcatdog import _engine, find_issues
from skcatdog.audit import QUALITY_CHECKS
from skcatdog.audit.report import render
from skcatdog.neighbours import near_pairs
from tests._helpers import random_images

NO_PIXELS = ["exact_duplicate", "near_duplicate", "leak", "label_error", "off_topic"]


def _rows(photos):
    """What the photo audit computes: the mean embedding over its views and the full view's logits."""
    rows = _engine.embed_many(photos, "tiny_test", views=("crop", "full"), cache=None)
    return (rows[0].embeddings + rows[1].embeddings) / np.float32(2), rows[1].logits


def _given(n=60, dim=16, seed=0):
    """Two clusters of rows labelled by cluster, with row 5 labelled wrong."""
    rng = np.random.default_rng(seed)
    y = np.array(["cat", "dog"] * (n // 2))
    centre = rng.standard_normal(dim)
    x = np.where((y == "cat")[:, None], centre, -centre) + 0.5 * rng.standard_normal((n, dim))
    y[5] = "dog" if y[5] == "cat" else "cat"
    return [f"/nowhere/photo-{i}.jpg" for i in range(n)], y, x.astype(np.float32)


def test_given_embeddings_give_the_photo_audits_copies_leaks_and_labels(isolated_cache):
    photos = random_images(30, seed=3, size=(80, 70))
    photos += [photos[2].copy(), photos[7].copy()]
    test = [photos[4].copy(), random_images(1, seed=99, size=(80, 70))[0]]
    y = np.array(["cat", "dog"] * 16)
    kw = {"X_test": test, "checks": NO_PIXELS, "near_duplicate_distance": 1e-6}
    from_photos = find_issues(photos, y, backbone="tiny_test", **kw)
    embeddings, logits = _rows(photos)
    names = [f"X[{i}] (array)" for i in range(len(photos))]
    kw["X_test"] = [f"test-{i}" for i in range(len(test))]
    given = find_issues(names, y, embeddings=embeddings, logits=logits, test_embeddings=_rows(test)[0], **kw)
    assert set(from_photos.issue) >= {"exact_duplicate", "leak", "label_error"}
    same = ["item", "issue", "group", "given_label", "suggested_label"]
    assert given[same].equals(from_photos[same])
    np.testing.assert_allclose(given.score, from_photos.score, rtol=1e-6)
    assert given.attrs["skipped"] == {} and from_photos.attrs["skipped"] == {}


def test_no_photo_is_read_and_near_copies_are_the_pairs_within_the_distance(forward_count):
    names, y, x = _given()
    x[40] = x[2]  # an exact copy (of a photo of the same label)
    x[41] = x[11] + 1e-3  # a near one
    issues = find_issues(names, y, embeddings=x, near_duplicate_distance=0.001)
    assert forward_count() == 0
    exact = issues[issues.issue == "exact_duplicate"]
    assert sorted(exact.item) == [names[2], names[40]] and list(exact.detail).count("keep") == 1
    near = issues[issues.issue == "near_duplicate"]
    pairs = {(i, j) for i, j, _ in near_pairs(x, max_distance=0.001) if (i, j) != (2, 40)}
    assert pairs == {(11, 41)} and sorted(near.item) == [names[11], names[41]]
    assert near[near.item == names[11]].detail.item() == "keep"  # no sizes: the first photo is kept
    wrong = issues[issues.issue == "label_error"]
    assert list(wrong.item) == [names[5]] and "no ImageNet logits" in wrong.detail.item()
    # No photo to show: the notebook's table shows a placeholder.
    assert "no preview" in issues._repr_html_()


def test_checks_that_need_pixels_or_logits_are_skipped_and_named():
    names, y, x = _given()
    issues = find_issues(names, y, embeddings=x)
    skipped = issues.attrs["skipped"]
    assert set(skipped) == set(QUALITY_CHECKS) | {"off_topic", "leak"}
    assert "pixels" in skipped["blurry"] and "logits" in skipped["off_topic"] and "X_test" in skipped["leak"]
    assert "off_topic" not in find_issues(names, y, embeddings=x, logits=np.zeros((60, 1000))).attrs["skipped"]
    page = render(issues, "audit", lambda item: "")
    assert "Not checked" in page and "blurry" in page
    with pytest.raises(ValueError, match="'blurry' cannot run: it reads the photos' pixels"):
        find_issues(names, y, embeddings=x, checks=["exact_duplicate", "blurry"])
    with pytest.raises(ValueError, match="'off_topic' cannot run: it reads ImageNet logits"):
        find_issues(names, y, embeddings=x, checks=["off_topic"])


def _bad(x):
    x = x.copy()
    x[7, 3] = np.nan
    return x


@pytest.mark.parametrize(
    ("change", "error", "message"),
    [
        (lambda x: {"embeddings": _bad(x)}, ValueError, "NaN or infinite values, first in row 7"),
        (lambda x: {"embeddings": np.where(np.arange(60)[:, None] == 9, np.inf, x)}, ValueError, "first in row 9"),
        (lambda x: {"embeddings": x[:, 0]}, ValueError, "must be a 2-D array"),
        (lambda x: {"embeddings": x[None]}, ValueError, "must be a 2-D array"),
        (lambda x: {"embeddings": x[:59]}, ValueError, "59 rows, fewer than the 60 items"),
        (lambda x: {"embeddings": np.vstack([x, x[:1]])}, ValueError, "61 rows, more than the 60 items"),
        (lambda x: {"embeddings": x.astype(np.int64)}, TypeError, "must hold floats .* got dtype int64"),
        (lambda x: {"embeddings": x.astype(object)}, TypeError, "got dtype object"),
        (lambda x: {"embeddings": x, "logits": np.zeros((60, 10))}, ValueError, "logits has 10 columns, 1000"),
        (lambda x: {"embeddings": x, "logits": np.zeros((59, 1000))}, ValueError, "logits has 59 rows"),
        (lambda x: {"embeddings": x, "test_embeddings": x[:2]}, ValueError, "X_test .* together"),
        (lambda x: {"embeddings": x, "X_test": ["a", "b"]}, ValueError, "X_test .* together"),
        (lambda x: {"embeddings": x, "X_test": ["a"], "test_embeddings": x[:1, :5]}, ValueError, "5 columns"),
        (lambda x: {"logits": np.zeros((60, 1000))}, ValueError, "logits given without embeddings"),
    ],
)
def test_bad_embeddings_get_one_clear_error(change, error, message):
    names, y, x = _given()
    with pytest.raises(error, match=message):
        find_issues(names, y, **change(x))


def test_float32_rows_stay_float32_and_a_memmap_is_read_in_place(tmp_path, monkeypatch):
    from sklearn.linear_model import LogisticRegression

    names, y, x = _given()
    seen = []
    fit = LogisticRegression.fit
    monkeypatch.setattr(
        LogisticRegression, "fit", lambda self, X, *a, **k: seen.append(X.dtype) or fit(self, X, *a, **k)
    )
    path = tmp_path / "rows.npy"
    np.save(path, x)
    on_disk = find_issues(names, y, embeddings=np.load(path, mmap_mode="r"))
    assert set(seen) == {np.dtype(np.float32)}
    in_double = find_issues(names, y, embeddings=x.astype(np.float64))
    assert on_disk[["item", "issue"]].equals(in_double[["item", "issue"]])
    np.testing.assert_allclose(on_disk.score, in_double.score, atol=1e-4)


def test_auto_near_distance_is_tighter_without_grey_copies():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((6, 32)).astype(np.float32)
    for a, b, target in ((0, 1, 0.05), (2, 3, 0.12)):  # one pair within 0.08 of each other, one beyond
        # b = a rotated towards an orthogonal direction, to cosine distance `target`
        u = x[a] / np.linalg.norm(x[a])
        v = x[b] - (x[b] @ u) * u
        v /= np.linalg.norm(v)
        angle = np.arccos(1 - target)
        x[b] = np.cos(angle) * u + np.sin(angle) * v
    names = [f"row-{i}" for i in range(6)]
    auto = find_issues(names, embeddings=x, checks=["near_duplicate"])
    assert sorted(auto.item) == ["row-0", "row-1"]
    wide = find_issues(names, embeddings=x, checks=["near_duplicate"], near_duplicate_distance=0.2)
    assert sorted(wide.item) == ["row-0", "row-1", "row-2", "row-3"]


def test_verbose_shows_the_near_copy_search_and_the_label_folds(capsys):
    names, y, x = _given(n=40)
    find_issues(names, y, embeddings=x, checks=["near_duplicate", "label_error"], verbose=1)
    shown = capsys.readouterr().err
    assert "label check" in shown and "near copies" in shown
    find_issues(names, y, embeddings=x, checks=["near_duplicate", "label_error"])
    assert capsys.readouterr().err == ""
