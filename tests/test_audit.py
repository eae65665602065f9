"""find_issues and `skcatdog audit`: copies, leaks, labels, poor photos, bad input, the page and the decisions."""

import csv
import io

import numpy as np
import pytest

from skcatdog import ImageLoadError, find_issues
from skcatdog.audit import COLUMNS, duplicates, labels
from skcatdog.audit.report import default_decisions, read_decisions, render
from skcatdog.neighbours import near_pairs
from tests._helpers import random_images


def _find(X, y=None, **kw):
    return find_issues(X, y, backbone="tiny_test", **kw)


def _photos(n=12, seed=0):
    return random_images(n, seed=seed, size=(80, 70))


def test_exact_copies_are_one_set_with_one_photo_to_keep(isolated_cache):
    photos = _photos()
    photos += [photos[0].copy(), photos[0].copy()]
    issues = _find(photos)
    assert list(issues.columns) == list(COLUMNS)
    exact = issues[issues.issue == "exact_duplicate"]
    assert sorted(exact.item) == ["X[0] (array)", "X[12] (array)", "X[13] (array)"]
    assert exact.group.nunique() == 1 and (exact.detail == "keep").sum() == 1


def test_a_dark_photo_is_flagged_within_the_budget(isolated_cache):
    photos = _photos(40)
    photos.append(np.full((80, 70, 3), 5, np.uint8))
    issues = _find(photos, flag_fraction=0.05)
    assert set(issues[issues.issue == "dark"].item) == {"X[40] (array)"}
    assert set(issues[issues.issue == "grayscale"].item) == {"X[40] (array)"}
    # A threshold replaces the bound and the budget.
    assert len(_find(photos, thresholds={"dark": 255})[lambda d: d.issue == "dark"]) == 41


def test_near_copies_are_sets_found_without_a_square_matrix():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((50, 16)).astype(np.float32)
    emb = np.concatenate([base, base[:3] + 0.01 * rng.standard_normal((3, 16)).astype(np.float32)])
    pairs = near_pairs(emb, max_distance=0.01)
    assert sorted((i, j) for i, j, _ in pairs) == [(0, 50), (1, 51), (2, 52)]
    assert duplicates.near_sets(len(emb), pairs + [(50, 7, 0.0)]) == [[0, 7, 50], [1, 51], [2, 52]]


@pytest.mark.parametrize("chunk", [1, 3, 7, 1024])
def test_near_pairs_cross_every_block_boundary(chunk):
    # Pairs far apart in the rows: a block must be compared with every later row, not only the next block.
    rng = np.random.default_rng(1)
    emb = rng.standard_normal((40, 8)).astype(np.float32)
    for i, j in ((0, 39), (2, 17), (10, 11), (5, 30)):
        emb[j] = emb[i] + 1e-3 * rng.standard_normal(8).astype(np.float32)
    sim = duplicates.normalized(emb) @ duplicates.normalized(emb).T
    expected = sorted((i, j) for i in range(40) for j in range(i + 1, 40) if sim[i, j] >= 1 - 0.01)
    assert expected == [(0, 39), (2, 17), (5, 30), (10, 11)]
    assert sorted((i, j) for i, j, _ in near_pairs(emb, max_distance=0.01, chunk=chunk)) == expected
    other = emb[[39, 17, 11]] + 1e-4
    cross = near_pairs(emb, other, max_distance=0.01, chunk=chunk)
    assert sorted((i, k) for i, k, _ in cross) == [(0, 0), (2, 1), (10, 2), (11, 2), (17, 1), (39, 0)]


def test_near_copies_of_a_test_set_are_leaks(isolated_cache):
    photos = _photos()
    test = [photos[3].copy(), random_images(1, seed=99, size=(80, 70))[0]]
    leaks = _find(photos, X_test=test, near_duplicate_distance=1e-6)  # the tiny network barely tells noise apart
    leaks = leaks[leaks.issue == "leak"]
    assert list(leaks.item) == ["X[3] (array)"] and "in the test set" in leaks.detail.iloc[0]


def test_confident_learning_ranks_the_flipped_labels_first():
    rng = np.random.default_rng(0)
    y = np.array(["cat"] * 50 + ["dog"] * 50)
    p_dog = np.where(y == "dog", 0.9, 0.1) + rng.uniform(-0.05, 0.05, 100)
    p_dog[[3, 60]] = [0.97, 0.02]  # photo 3, labelled cat, looks like a dog; photo 60 the reverse
    proba = np.stack([1 - p_dog, p_dog], axis=1)
    order, suggested, own = labels.label_candidates(y, np.array(["cat", "dog"]), proba)
    assert dict(zip(order[:2].tolist(), suggested[:2].tolist(), strict=True)) == {3: 1, 60: 0}
    assert (np.diff(own) >= 0).all()


def test_unreadable_photos_are_named_in_one_error(image_files, tmp_path, isolated_cache):
    paths = image_files(3)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not a photo")
    with pytest.raises(ImageLoadError) as info:
        _find([paths[0], str(broken), paths[1], str(tmp_path / "absent.jpg")])
    assert [name for name, _ in info.value.problems] == [str(broken), str(tmp_path / "absent.jpg")]


def test_odd_labels_give_clear_errors_or_plain_results(isolated_cache):
    photos = _photos(6)
    assert not (_find(photos, ["cat"] * 6).issue == "label_error").any()  # one class: nothing to compare
    with pytest.raises(ValueError, match="at least 2 photos of each label"):
        _find(photos, ["cat"] * 5 + ["dog"])
    with pytest.raises(ValueError, match="one label per photo"):
        _find(photos, ["cat"] * 5)
    with pytest.raises(ValueError, match="no images"):
        _find([])


def test_a_second_run_forwards_nothing_and_reads_no_pixels(image_files, isolated_cache, forward_count):
    paths = image_files(6)
    first = _find(paths)
    before = forward_count()
    assert _find(paths).equals(first)
    assert forward_count() == before


def test_the_page_escapes_names_and_the_decisions_round_trip(tmp_path, isolated_cache):
    from PIL import Image

    folder = tmp_path / "photos"
    folder.mkdir()
    evil = folder / "<script>alert(1)<\\script>.jpg"
    Image.fromarray(np.full((64, 64, 3), 4, np.uint8)).save(evil)
    copy = folder / "copy.jpg"
    copy.write_bytes(evil.read_bytes())
    issues = _find([str(evil), str(copy)])
    page = render(issues, "audit", lambda item: "")
    assert "<script>alert(1)" not in page and "&lt;script&gt;alert(1)" in page
    decisions = default_decisions(issues)
    path = tmp_path / "decisions.csv"
    with open(path, "w", newline="") as f:
        from skcatdog.audit.report import write_decisions

        write_decisions(f, decisions)
    assert read_decisions(path) == {str(evil): ("keep", ""), str(copy): ("drop", "")}
    path.write_text("item,action,label\nx.jpg,relabel,\n")
    with pytest.raises(ValueError, match="relabel 'x.jpg' to what"):
        read_decisions(path)


def test_the_audit_command_writes_a_page_and_decisions_that_train_honours(tmp_path, image_files, isolated_cache):
    import shutil

    from skcatdog import cli

    data = tmp_path / "data"
    for label, seed in (("cat", 1), ("dog", 2)):
        (data / label).mkdir(parents=True)
        for p in image_files(4, seed=seed):
            shutil.copy(p, data / label)
    shutil.copy(data / "cat" / "img0.jpg", data / "dog" / "copy.jpg")  # an exact copy, filed as a dog
    out = io.StringIO()
    report, decisions = tmp_path / "audit.html", tmp_path / "decisions.csv"
    args = ["audit", str(data), "--backbone", "tiny_test", "--near-distance", "1e-6", "-q"]
    args += ["--report", str(report), "--decisions", str(decisions)]
    assert cli.main(args, out=out) == 0
    assert "exact_duplicate" in out.getvalue() and report.read_text().startswith("<!DOCTYPE html>")
    rows = list(csv.reader(io.StringIO(decisions.read_text())))
    assert rows[0] == ["item", "action", "label"] and [str(data / "dog" / "copy.jpg"), "drop", ""] in rows
    # Train on the copy's decision alone (the tiny network's label guesses are noise).
    decisions.write_text(f"item,action,label\n{data / 'dog' / 'copy.jpg'},drop,\n")
    out = io.StringIO()
    train = ["train", str(data), "--backbone", "tiny_test", "--cv", "0", "--C", "1", "--decisions", str(decisions)]
    status = cli.main([*train, "--out", str(tmp_path / "m.skops"), "-q"], out=out)
    assert status == 0, out.getvalue()
    assert "1 photos dropped" in out.getvalue()
