"""Shared fixtures: an isolated cache, a tiny random-weights backbone, the shared photos.

Tests import helpers (folders, ``tiny_transformer``, ``random_images``) from ``tests._helpers``.
"""

from pathlib import Path

import numpy as np
import pytest

from skcatdog import _engine

# Importing the helpers registers the tiny_test backbone. The names below stay importable from here
# for test modules written before tests/_helpers.py existed (branches merged after it).
from tests._helpers import OUTLIERS, SHARED, TINY, TRAIN, needs_shared, random_images, tiny_transformer  # noqa: F401


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path, monkeypatch):
    """Every test gets its own default cache directory; ~/.cache is never touched."""
    cache = tmp_path / "skcatdog-cache"
    monkeypatch.setenv("SKCATDOG_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def tiny():
    """:func:`tiny_transformer`, as a fixture."""
    return tiny_transformer


@pytest.fixture
def old_files(monkeypatch):
    """Files count as old enough for their digests to be memoised (outside the racy window)."""
    from skcatdog._store import keys

    monkeypatch.setattr(keys, "RACY_SECONDS", -3600.0)


@pytest.fixture
def fresh_memory():
    """Forget what this process has read, as a new process would; returns the function that does."""
    from skcatdog._store import memory

    memory.clear()
    yield memory.clear
    memory.clear()


@pytest.fixture
def forward_count():
    """Images that went through a forward pass since the test started."""
    _engine.stats.reset()
    return lambda: _engine.stats.images_forwarded


@pytest.fixture
def image_files(tmp_path):
    """Write ``n`` distinct random JPEGs and return their paths."""
    from PIL import Image

    def make(n, seed=0, fmt="JPEG", suffix=".jpg"):
        folder = tmp_path / f"images-{seed}"
        folder.mkdir(exist_ok=True)
        paths = []
        for i, arr in enumerate(random_images(n, seed)):
            p = folder / f"img{i}{suffix}"
            Image.fromarray(arr).save(p, fmt)
            paths.append(str(p))
        return paths

    return make


@pytest.fixture
def odd_files(tmp_path, image_files):
    """Paths of files a decoder must refuse or hand to Pillow, by kind: ``truncated``,
    ``empty``, ``not_an_image`` (a JPEG's first and last bytes around text), ``cmyk``,
    ``png16`` (16-bit greyscale) and ``progressive``, made from a random JPEG."""
    from PIL import Image

    folder = tmp_path / "odd"
    folder.mkdir()
    (source,) = image_files(1, seed=99)
    files = {
        "truncated": ("truncated.jpg", Path(source).read_bytes()[:300]),
        "empty": ("empty.jpg", b""),
        "not_an_image": ("notes.jpg", b"\xff\xd8\xff" + b"plain text, not a JPEG" * 10 + b"\xff\xd9"),
    }
    paths = {}
    for kind, (name, data) in files.items():
        paths[kind] = str(folder / name)
        Path(paths[kind]).write_bytes(data)
    paths["cmyk"] = str(folder / "cmyk.jpg")
    Image.new("CMYK", (40, 30), (10, 20, 30, 40)).save(paths["cmyk"])
    paths["png16"] = str(folder / "deep.png")
    Image.fromarray(np.full((30, 40), 40000, np.uint16)).save(paths["png16"])
    paths["progressive"] = str(folder / "progressive.jpg")
    Image.open(source).save(paths["progressive"], progressive=True)
    return paths


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory):
    """One cache for the whole session, for tests that embed real photos:
    pass ``cache=shared_cache`` so each photo goes through a CNN once per run."""
    return str(tmp_path_factory.mktemp("skcatdog-shared-cache"))
