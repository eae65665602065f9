"""load_image_csv and ImageCrop: manifests with boxes, crops in the cache key, many classes."""

import pickle

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score

from skcatdog import (
    ImageCrop,
    ImageLoadError,
    ImageNetOutlierFilter,
    KerasEmbeddingTransformer,
    load_image_csv,
    load_image_folder,
    make_pipeline,
)
from skcatdog._images import decode, read_source
from tests._helpers import OUTLIERS, TRAIN, needs_shared, tiny_transformer


def _two_halves(path):
    arr = np.zeros((40, 60, 3), np.uint8)
    arr[:, :30] = (220, 30, 30)
    arr[:, 30:] = (20, 40, 230)
    Image.fromarray(arr).save(path)
    return arr


def test_crop_decodes_the_box_only(tmp_path):
    arr = _two_halves(tmp_path / "halves.png")
    Image.fromarray(arr[:, :30]).save(tmp_path / "left.png")
    crop = decode(read_source(ImageCrop(tmp_path / "halves.png", (0, 0, 0.5, 1))), 16)
    np.testing.assert_array_equal(crop, decode(read_source(str(tmp_path / "left.png")), 16))
    assert (crop[..., 0] > 200).all()  # all red: none of the blue half leaks in


def test_crops_are_their_own_cache_rows(tmp_path, forward_count):
    _two_halves(tmp_path / "halves.png")
    whole = str(tmp_path / "halves.png")
    left, right = ImageCrop(whole, (0, 0, 0.5, 1)), ImageCrop(whole, (0.5, 0, 1, 1))
    assert read_source(left).digest not in {read_source(right).digest, read_source(whole).digest}
    est = tiny_transformer(views="crop")
    rows = est.transform([left, right, whole, ImageCrop(whole, (0, 0, 0.5, 1))])
    assert forward_count() == 3  # the repeated crop is embedded once
    assert not np.allclose(rows[0], rows[1]) and not np.allclose(rows[0], rows[2])
    np.testing.assert_array_equal(rows[0], rows[3])
    est.transform([right, left])
    assert forward_count() == 3


@pytest.mark.parametrize(
    "box, match",
    [((0, 0, 1), "4 finite numbers"), ((0.5, 0, 0.4, 1), "xmin < xmax"), ((0, 0, 1, 1.5), r"inside \[0, 1\]")],
)
def test_bad_boxes_are_named(box, match):
    with pytest.raises(ValueError, match=match) as info:
        ImageCrop("a/photo.jpg", box)
    assert "a/photo.jpg" in str(info.value)


def test_missing_file_in_a_crop_is_named(tmp_path):
    with pytest.raises(ImageLoadError, match=r"gone.jpg \[box 0, 0, 0.5, 1\]: no such file"):
        tiny_transformer().transform([ImageCrop(tmp_path / "gone.jpg", (0, 0, 0.5, 1))])


def test_manifest_with_and_without_boxes(tmp_path):
    _two_halves(tmp_path / "halves.png")
    (tmp_path / "sub").mkdir()
    _two_halves(tmp_path / "sub" / "other.png")
    (tmp_path / "m.csv").write_text(
        "Path,Label,XMin,YMin,XMax,YMax\nhalves.png,red,0,0,0.5,1\nhalves.png,blue,0.5,0,1,1\nsub/other.png,both,,,,\n"
    )
    items, labels = load_image_csv(tmp_path / "m.csv")
    assert labels.tolist() == ["red", "blue", "both"]
    assert items[0] == ImageCrop(str(tmp_path / "halves.png"), (0, 0, 0.5, 1))
    assert items[2] == str(tmp_path / "sub" / "other.png")
    (tmp_path / "plain.csv").write_text("path,label\nhalves.png,a\nsub/other.png,b\n")
    items, labels = load_image_csv(tmp_path / "plain.csv")
    assert all(isinstance(i, str) for i in items)


@pytest.mark.parametrize(
    "text, match",
    [
        ("file,label\nhalves.png,a\n", "no path column"),
        ("path,label,xmin,ymin\nhalves.png,a,0,0\n", "must be all of"),
        ("path,label,xmin,ymin,xmax,ymax\nhalves.png,a,0,0,1,1\nhalves.png,b,0,0,,1\n", "line 3: box has empty cells"),
        ("path,label,xmin,ymin,xmax,ymax\nhalves.png,a,0,0,2,1\n", r"line 2: .*inside \[0, 1\]"),
        ("path,label\nhalves.png,a\nnope.png,b\n", r"(?s)1 image file\(s\) .*line 3: .*nope.png"),
        ("path,label\nhalves.png,a\n", "one class only"),
        ("path,label\nhalves.png,\n", "line 2: empty path or label"),
        ("path,label\n", "lists no images"),
    ],
)
def test_manifest_errors_name_the_line(tmp_path, text, match):
    _two_halves(tmp_path / "halves.png")
    (tmp_path / "m.csv").write_text(text)
    with pytest.raises(ValueError, match=match):
        load_image_csv(tmp_path / "m.csv")


def test_missing_manifest(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.csv"):
        load_image_csv(tmp_path / "nope.csv")


@needs_shared
@pytest.mark.slow
def test_three_classes_fit_cross_validate_and_pickle(tmp_path, shared_cache):
    """cat, dog and junk (the known outliers), with the filter mapping each label to WordNet."""
    paths, labels = load_image_folder(TRAIN)
    junk, _ = load_image_folder(OUTLIERS)
    rng = np.random.default_rng(0)
    pick = np.concatenate([rng.choice(np.flatnonzero(labels == c), 30, replace=False) for c in ("cat", "dog")])
    rows = [f"{p},{lab}" for p, lab in zip(paths[pick], labels[pick], strict=True)] + [f"{p},junk" for p in junk[:30]]
    (tmp_path / "three.csv").write_text("path,label\n" + "\n".join(rows) + "\n")
    X, y = load_image_csv(tmp_path / "three.csv")
    common = dict(backbone="efficientnet_lite0", cache=shared_cache)
    synsets = {"cat": "n02121620", "dog": "n02084071", "junk": "n00001740"}  # junk: any ImageNet class
    pipe = make_pipeline(
        ImageNetOutlierFilter(class_synsets=synsets, **common),
        KerasEmbeddingTransformer(**common),
        LogisticRegression(max_iter=2000),
    )
    cv = StratifiedKFold(3, shuffle=True, random_state=0)
    log_loss = -cross_val_score(pipe, X, y, cv=cv, scoring="neg_log_loss")
    assert log_loss.mean() < 0.4  # chance is log(3) = 1.10
    pipe.fit(X, y)
    assert not pipe[0].outlier_mask_[y == "junk"].any()  # everything is below "entity"
    assert pipe.classes_.tolist() == ["cat", "dog", "junk"]
    again = pickle.loads(pickle.dumps(pipe))
    proba = again.predict_proba(X)
    np.testing.assert_allclose(proba, pipe.predict_proba(X), rtol=1e-6)
    assert proba.shape == (90, 3) and (again.predict(X) == y).mean() > 0.9
