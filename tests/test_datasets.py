"""load_image_folder: both layouts and its errors."""

import numpy as np
import pytest

from skcatdog import load_image_folder
from tests._helpers import TRAIN, needs_shared


def _touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")


def test_one_folder_per_class(tmp_path):
    for name in ["cat/cat.10.jpg", "cat/cat.2.jpg", "dog/d.PNG", "dog/readme.txt", ".hidden/x.jpg"]:
        _touch(tmp_path / name)
    paths, labels = load_image_folder(tmp_path)
    assert [p.split("/")[-1] for p in paths] == ["cat.2.jpg", "cat.10.jpg", "d.PNG"]
    assert labels.tolist() == ["cat", "cat", "dog"]


def test_kaggle_flat_layout(tmp_path):
    for name in ["dog.1.jpg", "cat.0.jpg", "cat.1.jpg", "12.jpg"]:
        _touch(tmp_path / name)
    paths, labels = load_image_folder(str(tmp_path))
    assert labels.tolist() == ["cat", "cat", "dog"]
    assert paths[0].endswith("cat.0.jpg")


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_image_folder(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="no images found"):
        load_image_folder(tmp_path)
    _touch(tmp_path / "cat" / "a.jpg")
    with pytest.raises(ValueError, match="one class only"):
        load_image_folder(tmp_path)


@needs_shared
def test_shared_photos():
    paths, labels = load_image_folder(TRAIN)
    assert len(paths) == 3000
    assert dict(zip(*np.unique(labels, return_counts=True), strict=True)) == {"cat": 1500, "dog": 1500}
