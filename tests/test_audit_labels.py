"""The label check: confident learning's count, a confident classifier over ImageNet's top k, junk left off-topic."""

import re

import numpy as np

from skcatdog.audit import AuditContext, PhotoSet, get_check
from skcatdog.audit.labels import estimated_error_count, label_candidates, out_of_fold_proba

# With these synsets the cat kind is ImageNet class 281 (tabby) alone and the dog kind class 151 (Chihuahua).
SYNSETS = {"cat": "n02123045", "dog": "n02085620"}
CAT, DOG = 281, 151


def _context(embeddings, labels, logits, **settings):
    n = len(labels)
    photos = PhotoSet(
        items=list(range(n)),
        names=[f"p{i}" for i in range(n)],
        digests=[str(i) for i in range(n)],
        embeddings=embeddings,
        logits=logits,
    )
    defaults = {
        "flag_fraction": 0.01,
        "near_duplicate_distance": 0.2,
        "label_fraction": 0.02,
        "top_k": 16,
        "class_synsets": SYNSETS,
        "thresholds": {},
        "random_state": 0,
    }
    return AuditContext(photos=photos, labels=np.asarray(labels), test=None, settings={**defaults, **settings})


def _planted(rng):
    """Two clusters of 150 photos, ImageNet seeing each photo's kind at rank 1; photo 5 (a dog
    in the dog cluster) labelled cat, photo 7 (unlike any other photo) labelled cat."""
    n, dim = 300, 32
    truth = np.array(["cat"] * 150 + ["dog"] * 150)
    centre = rng.standard_normal(dim)
    embeddings = np.where((truth == "cat")[:, None], centre, -centre) + 0.6 * rng.standard_normal((n, dim))
    logits = rng.standard_normal((n, 1000))
    logits[np.arange(n), np.where(truth == "cat", CAT, DOG)] = 10.0
    truth[5] = "dog"
    embeddings[5] = -centre + 0.6 * rng.standard_normal(dim)
    embeddings[7] = 5 * rng.standard_normal(dim) - 3 * centre  # a logo: nothing like the others
    for i in (5, 7):  # ImageNet sees neither kind among its best classes
        logits[i, [CAT, DOG]] = np.sort(logits[i])[[-500, -40]]
    labels = truth.copy()
    labels[[5, 7]] = "cat"
    return embeddings.astype(np.float32), labels, logits.astype(np.float32)


def test_a_confident_classifier_wins_over_imagenet_and_junk_stays_off_topic():
    embeddings, labels, logits = _planted(np.random.default_rng(0))
    context = _context(embeddings, labels, logits)
    wrong = get_check("label_error").find(context)
    off = get_check("off_topic").find(context)
    assert 5 in set(wrong["index"]) and 7 not in set(wrong["index"])
    row = wrong[wrong["index"] == 5].iloc[0]
    assert (row.given_label, row.suggested_label) == ("cat", "dog")
    assert "like the others of the set" in row.detail
    assert int(re.search(r"ImageNet rank (\d+)", row.detail).group(1)) > 16  # beyond the top k: the classifier won
    assert 7 in set(off["index"]) and 5 not in set(off["index"])


def test_the_count_is_confident_learnings():
    rng = np.random.default_rng(0)
    y = np.array(["cat"] * 50 + ["dog"] * 50)
    p_dog = np.clip(np.where(y == "dog", 0.85, 0.15) + rng.uniform(-0.1, 0.1, 100), 0, 1)
    p_dog[[3, 4, 60]] = [0.97, 0.9, 0.02]  # three photos that look like the other label
    proba = np.stack([1 - p_dog, p_dog], axis=1)
    classes = np.array(["cat", "dog"])
    assert estimated_error_count(y, classes, proba) == 3
    order, _, _ = label_candidates(y, classes, proba)
    assert set(order[:3].tolist()) == {3, 4, 60}
    # No photo looks like another label: nothing to report.
    clean = np.stack([np.where(y == "cat", 0.9, 0.1), np.where(y == "cat", 0.1, 0.9)], axis=1)
    assert estimated_error_count(y, classes, clean) == 0


def test_label_fraction_caps_the_count():
    embeddings, labels, logits = _planted(np.random.default_rng(1))
    labels[[20, 21, 22, 23]] = "dog"  # four more flips
    many = get_check("label_error").find(_context(embeddings, labels, logits))
    few = get_check("label_error").find(_context(embeddings, labels, logits, label_fraction=0.005))
    assert len(many) >= 5 and len(few) == 2
    assert list(few["index"]) == list(many["index"][:2])


def test_past_the_crossover_the_check_learns_on_a_reduced_space_and_a_drawn_reference(monkeypatch):
    from skcatdog.audit import labels

    embeddings, labels_, logits = _planted(np.random.default_rng(0))
    small = get_check("label_error").find(_context(embeddings, labels_, logits))
    monkeypatch.setattr(labels, "LABEL_CROSSOVER", 100)
    monkeypatch.setattr(labels, "REFERENCE", 120)
    monkeypatch.setattr(labels, "N_COMPONENTS", 8)
    reduced = labels.reduced(embeddings, n_components=8)
    assert reduced.shape == (300, 8) and reduced.dtype == np.float32
    large = get_check("label_error").find(_context(embeddings, labels_, logits))
    assert list(large["index"]) == list(small["index"]) == [5]
    assert "like the others of the set" in large.detail.item()
    off = get_check("off_topic").find(_context(embeddings, labels_, logits))
    assert 7 in set(off["index"])


def test_neighbours_among_a_reference_exclude_the_photo_itself():
    from skcatdog.audit.labels import neighbour_similarity

    x = np.random.default_rng(0).standard_normal((50, 6)).astype(np.float32)
    rows = np.arange(50)
    everyone = neighbour_similarity(x, rows, k=3)
    np.testing.assert_allclose(neighbour_similarity(x, rows, k=3, reference=np.arange(50)), everyone, rtol=1e-6)
    reference = np.arange(0, 50, 2)
    part = neighbour_similarity(x, rows, k=3, reference=reference)
    sim = x @ x.T / np.outer(np.linalg.norm(x, axis=1), np.linalg.norm(x, axis=1))
    for i in (0, 1, 48):
        others = [j for j in reference if j != i]
        assert np.isclose(part[i], np.sort(sim[i, others])[-3:].mean(), atol=1e-5)


def test_out_of_fold_proba_is_cross_val_predicts_and_shows_its_folds(capsys):
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    rng = np.random.default_rng(0)
    x = rng.standard_normal((90, 8)).astype(np.float32)
    y = np.array(["cat", "dog", "fox"])[(x[:, 0] > 0).astype(int) + (x[:, 1] > 1)]
    classes, proba = out_of_fold_proba(x, y, verbose=1)
    assert "label check" in capsys.readouterr().err
    cv = StratifiedKFold(5, shuffle=True, random_state=0)
    expected = cross_val_predict(LogisticRegression(C=1.0, max_iter=2000), x, y, cv=cv, method="predict_proba")
    assert list(classes) == ["cat", "dog", "fox"]
    np.testing.assert_array_equal(proba, expected)
