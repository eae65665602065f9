"""Pixel measures come from the decode that embeds each photo: one decode per photo, none when warm."""

import numpy as np
import pytest
from PIL import Image, ImageFile

from skcatdog import config_context, find_issues
from skcatdog._engine import embed_many
from skcatdog.audit import IssueCheck, issue_frame, register_check, unregister_check


@pytest.fixture
def decodes(monkeypatch):
    """Counts the images Pillow decodes (a load that still has tiles to decode)."""
    count = {"n": 0}
    real = ImageFile.ImageFile.load

    def load(self):
        if self.tile:
            count["n"] += 1
        return real(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return lambda: count["n"]


def _photos(tmp_path, n=6):
    """JPEG photos of several sizes (one large enough to be decoded at a reduced scale), and a copy."""
    rng = np.random.default_rng(0)
    paths = []
    for i in range(n):
        h, w = (60 + 13 * i, 90 + 7 * i) if i else (700, 520)
        arr = np.clip(rng.normal(120 + 10 * i, 40, (h, w, 3)), 0, 255).astype(np.uint8)
        path = tmp_path / f"p{i}.jpg"
        Image.fromarray(arr).save(path, quality=90)
        paths.append(str(path))
    copy = tmp_path / "copy.jpg"
    copy.write_bytes(open(paths[1], "rb").read())
    return [*paths, str(copy)]


def _find(X, y=None, **kw):
    return find_issues(X, y, backbone="tiny_test", **kw)


def test_a_cold_audit_decodes_each_photo_once_and_a_warm_one_none(tmp_path, decodes):
    paths = _photos(tmp_path)
    labels = ["cat", "dog"] * 3 + ["dog"]
    kw = {"X_test": paths[:2], "near_duplicate_distance": 0.5, "views": ("full",)}
    first = _find(paths, labels, **kw)
    assert decodes() == 6  # six contents (the copy shares one): one decode each, measures and all
    assert {"exact_duplicate", "leak"} <= set(first.issue)
    again = _find(paths, labels, **kw)
    assert decodes() == 6
    assert again.equals(first)


def test_the_audit_decodes_no_more_than_embedding_alone(tmp_path, decodes):
    paths = _photos(tmp_path)
    embed_many(paths, "tiny_test", views=("crop", "full"), cache=str(tmp_path / "alone"))
    alone = decodes()  # a photo whose two views need two DCT scales is decoded at each
    _find(paths, near_duplicate_distance=0.5, cache=str(tmp_path / "audit"))
    assert decodes() == 2 * alone


def test_photos_embedded_before_the_audit_are_decoded_once_for_their_measures(tmp_path, decodes):
    paths = _photos(tmp_path)
    embed_many(paths, "tiny_test", views=("crop", "full"))
    alone = decodes()
    measured = _find(paths, thresholds={"dark": 256})
    assert decodes() == alone + 6  # the full view of each content, for its measures
    assert set(measured[measured.issue == "dark"].item) == set(paths)


class _Measures(IssueCheck):
    name = "all_measures"
    needs = frozenset({"pixel_measures"})

    def find(self, context):
        measures = context.measures
        found = issue_frame(np.arange(len(measures)), np.zeros(len(measures)))
        found["detail"] = [" ".join(f"{v:.6g}" for v in row) for row in measures.to_numpy()]
        return found


def test_worker_processes_give_the_measures_threads_give(tmp_path):
    register_check(_Measures())
    try:
        paths = _photos(tmp_path)
        threads = _find(paths, checks=["all_measures"], cache=None)
        with config_context(decoder="processes"):
            processes = _find(paths, checks=["all_measures"], cache=None)
    finally:
        unregister_check("all_measures")
    assert processes.equals(threads)
    width, height = (float(v) for v in threads.detail.iloc[0].split()[-2:])
    assert (width, height) == (520.0, 700.0)  # the stored size, though the model's views are smaller
