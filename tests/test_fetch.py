"""Fetchers and their download machinery, against a loopback mirror (no test touches the internet)."""

import io
import os
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest

from skcatdog import ImageCrop, _fetch, datasets, fetch_dogs_vs_cats, fetch_oxford_pets
from skcatdog._fetch import DownloadError, RemoteFileMetadata
from tests._mirror import Mirror, dogs_vs_cats_zip, oxford_pets_archives, sha256


@pytest.fixture(autouse=True)
def fast_failures(monkeypatch):
    # A stuck loopback socket fails in seconds, not a minute; retries do not sleep.
    monkeypatch.setattr(_fetch, "SOCKET_TIMEOUT", 5.0)
    monkeypatch.setattr(_fetch, "RETRY_DELAY", 0.0)
    monkeypatch.delenv("SKCATDOG_DATA_MIRROR", raising=False)
    monkeypatch.delenv("SKCATDOG_DATA", raising=False)


@pytest.fixture(scope="module")
def ms_zip():
    return dogs_vs_cats_zip()


@pytest.fixture
def ms_mirror(ms_zip, monkeypatch):
    data, _ = ms_zip
    # Pin the synthetic archive's digest, so the download is verified as a real one would be.
    monkeypatch.setattr(datasets, "DOGS_VS_CATS", datasets.DOGS_VS_CATS._replace(checksum=sha256(data)))
    with Mirror({datasets.DOGS_VS_CATS.filename: data}) as mirror:
        yield mirror


def _listing(folder):
    return sorted(os.fspath(p.relative_to(folder)) for p in Path(folder).rglob("*"))


def test_dogs_vs_cats_downloads_checks_and_caches(ms_mirror, ms_zip, tmp_path):
    bunch = fetch_dogs_vs_cats(data_home=tmp_path, base_url=ms_mirror.url)
    assert bunch.labels.tolist() == ["cat"] * 6 + ["dog"] * 6
    assert bunch.target.tolist() == [0] * 6 + [1] * 6 and bunch.target_names.tolist() == ["cat", "dog"]
    assert [Path(p).name for p in bunch.filenames[:6]] == [f"{i}.jpg" for i in range(6)]
    assert all(os.path.isfile(p) for p in bunch.filenames)
    root = tmp_path / "dogs_vs_cats" / "kagglecatsanddogs_5340"
    _, unusable = ms_zip
    assert sorted(bunch.bad_files) == sorted(os.fspath(root / name) for name in unusable)
    assert "empty" in bunch.bad_files[os.fspath(root / unusable[1])]
    assert "2 of the archive's 14 numbered files failed" in bunch.DESCR and unusable[0] in bunch.DESCR
    # The verified archive was unpacked and removed; nothing half-done is left.
    assert sorted(p.name for p in (tmp_path / "dogs_vs_cats").iterdir()) == ["kagglecatsanddogs_5340"]

    n_requests = len(ms_mirror.requests)
    X, y = fetch_dogs_vs_cats(data_home=tmp_path, base_url=ms_mirror.url, return_X_y=True)
    again = fetch_dogs_vs_cats(data_home=tmp_path, download_if_missing=False)
    assert len(ms_mirror.requests) == n_requests == 1  # nothing downloaded twice
    assert X.tolist() == bunch.filenames.tolist() and y.tolist() == bunch.labels.tolist()
    assert again.bad_files == bunch.bad_files


def test_data_home_and_mirror_from_the_environment(ms_mirror, tmp_path, monkeypatch):
    monkeypatch.setenv("SKCATDOG_DATA", os.fspath(tmp_path / "home"))
    monkeypatch.setenv("SKCATDOG_DATA_MIRROR", ms_mirror.url + "/")
    X, _ = fetch_dogs_vs_cats(return_X_y=True)
    assert len(X) == 12 and all(p.startswith(os.fspath(tmp_path / "home")) for p in X)
    assert ms_mirror.requests == [(datasets.DOGS_VS_CATS.filename, None)]


def test_download_if_missing_false_downloads_nothing(ms_mirror, tmp_path):
    with pytest.raises(OSError, match="download_if_missing=False"):
        fetch_dogs_vs_cats(data_home=tmp_path, download_if_missing=False, base_url=ms_mirror.url)
    with pytest.raises(OSError, match="download_if_missing=False"):
        fetch_oxford_pets(data_home=tmp_path, download_if_missing=False, base_url=ms_mirror.url)
    assert ms_mirror.requests == []


def test_truncated_download_resumes_with_range(ms_mirror, ms_zip, tmp_path):
    data, _ = ms_zip
    folder = tmp_path / "dogs_vs_cats"
    folder.mkdir()
    half = len(data) // 3
    (folder / "kagglecatsanddogs_5340.zip.part").write_bytes(data[:half])
    X, _ = fetch_dogs_vs_cats(data_home=tmp_path, base_url=ms_mirror.url, return_X_y=True)
    assert ms_mirror.requests == [("kagglecatsanddogs_5340.zip", f"bytes={half}-")]
    assert len(X) == 12


def test_server_without_ranges_starts_again(ms_mirror, tmp_path):
    folder = tmp_path / "dogs_vs_cats"
    folder.mkdir()
    (folder / "kagglecatsanddogs_5340.zip.part").write_bytes(b"stale bytes of something else")
    ms_mirror.ranges = False
    X, _ = fetch_dogs_vs_cats(data_home=tmp_path, base_url=ms_mirror.url, return_X_y=True)
    assert len(X) == 12 and len(ms_mirror.requests) == 1


def test_connection_dropped_halfway_is_resumed(ms_mirror, tmp_path):
    ms_mirror.drops["kagglecatsanddogs_5340.zip"] = 2
    X, _ = fetch_dogs_vs_cats(data_home=tmp_path, base_url=ms_mirror.url, return_X_y=True)
    assert len(X) == 12
    ranges = [r for _, r in ms_mirror.requests]
    assert len(ranges) == 3 and ranges[0] is None and all(r and r.startswith("bytes=") for r in ranges[1:])
    assert int(ranges[1][6:-1]) < int(ranges[2][6:-1])  # each try went on from where the last one stopped


def test_connection_that_keeps_dropping_fails_clearly(ms_mirror, tmp_path, monkeypatch):
    monkeypatch.setattr(_fetch, "N_RETRIES", 2)
    ms_mirror.drops["kagglecatsanddogs_5340.zip"] = 100
    with pytest.raises(DownloadError, match=r"cut short 3 times .*the next call resumes"):
        fetch_dogs_vs_cats(data_home=tmp_path, base_url=ms_mirror.url)
    folder = tmp_path / "dogs_vs_cats"
    # Only the resumable part file: nothing that looks like a complete archive or dataset.
    assert _listing(folder) == ["kagglecatsanddogs_5340.zip.part"]
    ms_mirror.drops.clear()
    assert len(fetch_dogs_vs_cats(data_home=tmp_path, base_url=ms_mirror.url).filenames) == 12


def test_wrong_checksum_is_a_clear_error_and_keeps_nothing(ms_mirror, ms_zip, tmp_path, monkeypatch):
    data, _ = ms_zip
    wrong = "0" * 64
    monkeypatch.setattr(datasets, "DOGS_VS_CATS", datasets.DOGS_VS_CATS._replace(checksum=wrong))
    with pytest.raises(DownloadError) as err:
        fetch_dogs_vs_cats(data_home=tmp_path, base_url=ms_mirror.url)
    message = str(err.value)
    assert "kagglecatsanddogs_5340.zip" in message and wrong in message and sha256(data) in message
    assert _listing(tmp_path / "dogs_vs_cats") == []


def test_http_error_names_the_url(tmp_path):
    with Mirror({}) as mirror, pytest.raises(DownloadError, match=r"127\.0\.0\.1.*HTTP 404"):
        fetch_dogs_vs_cats(data_home=tmp_path, base_url=mirror.url)
    assert _listing(tmp_path / "dogs_vs_cats") == []


def test_unreachable_server_fails_quickly(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(DownloadError, match="cannot download"):
        fetch_dogs_vs_cats(data_home=tmp_path, base_url=f"http://127.0.0.1:{port}")


@pytest.mark.parametrize("member", ["../evil.txt", "/tmp/evil.txt", "a/../../evil.txt"])
@pytest.mark.parametrize("kind", ["zip", "tar"])
def test_archive_path_traversal_is_refused(tmp_path, member, kind):
    archive = tmp_path / f"evil.{kind}"
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("ok.txt", b"fine")
            z.writestr(member, b"evil")
    else:
        with tarfile.open(archive, "w") as t:
            for name, data in (("ok.txt", b"fine"), (member, b"evil")):
                info = tarfile.TarInfo(name)
                info.size = len(data)
                t.addfile(info, io.BytesIO(data))
    (tmp_path / "out").mkdir()
    with pytest.raises(DownloadError, match="outside the target folder"):
        _fetch.unpack(archive, tmp_path / "out" / "target")
    assert list((tmp_path / "out").iterdir()) == []
    assert not (tmp_path / "evil.txt").exists()


def test_tar_links_are_not_extracted(tmp_path):
    archive = tmp_path / "links.tar"
    with tarfile.open(archive, "w") as t:
        info = tarfile.TarInfo("data/ok.txt")
        info.size = 4
        t.addfile(info, io.BytesIO(b"fine"))
        link = tarfile.TarInfo("data/passwd")
        link.type, link.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(link)
    target = _fetch.unpack(archive, tmp_path / "target")
    assert _listing(target) == ["data", "data/ok.txt"]


def test_interrupted_unpack_leaves_no_target(tmp_path, monkeypatch):
    archive = tmp_path / "a.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("x/1.txt", b"1")

    def killed(archive, into):
        (into / "x").mkdir()
        (into / "x" / "1.txt").write_bytes(b"1")
        raise KeyboardInterrupt

    monkeypatch.setattr(_fetch, "_extract_zip", killed)
    with pytest.raises(KeyboardInterrupt):
        _fetch.unpack(archive, tmp_path / "target")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.zip"]


def test_verified_archive_is_not_downloaded_again(tmp_path):
    data = b"some archive bytes"
    remote = RemoteFileMetadata("f.bin", "http://127.0.0.1:9/f.bin", sha256(data))
    with Mirror({"f.bin": data}) as mirror:
        path = _fetch.fetch_remote(remote, tmp_path, base_url=mirror.url)
        assert path.read_bytes() == data and len(mirror.requests) == 1


# -- Oxford-IIIT Pet ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def oxford_files():
    return oxford_pets_archives()


@pytest.fixture
def oxford_mirror(oxford_files, monkeypatch):
    remotes = tuple(r._replace(checksum=sha256(oxford_files[r.filename])) for r in datasets.OXFORD_PETS)
    monkeypatch.setattr(datasets, "OXFORD_PETS", remotes)
    with Mirror(oxford_files) as mirror:
        yield mirror


def test_oxford_pets_official_split(oxford_mirror, tmp_path):
    trainval = fetch_oxford_pets(data_home=tmp_path, base_url=oxford_mirror.url)
    test = fetch_oxford_pets(data_home=tmp_path, subset="test", download_if_missing=False)
    both = fetch_oxford_pets(data_home=tmp_path, subset="all", download_if_missing=False)
    assert len(oxford_mirror.requests) == 2  # two archives, each fetched once
    assert len(trainval.data) == len(test.data) == 74 and len(both.data) == 148
    assert len(trainval.target_names) == 37 and trainval.target_names[0] == "Abyssinian"
    assert set(trainval.labels) == set(trainval.target_names) == set(test.labels)
    assert trainval.labels[0] == "Abyssinian" and trainval.target[0] == 0
    assert (trainval.target_names[trainval.target] == trainval.labels).all()
    assert sorted(set(trainval.species)) == ["cat", "dog"]
    assert (trainval.species == np.where([n[0].isupper() for n in trainval.labels], "cat", "dog")).all()
    assert not set(trainval.filenames) & set(test.filenames)
    assert set(both.subset) == {"trainval", "test"} and both.bad_files == {}
    assert all(isinstance(p, str) and os.path.isfile(p) for p in trainval.data)


def test_oxford_pets_head_boxes(oxford_mirror, tmp_path):
    heads = fetch_oxford_pets(data_home=tmp_path, base_url=oxford_mirror.url, crop="head", subset="all")
    boxed = heads.data[heads.has_box]
    assert heads.has_box.tolist() == (heads.subset == "trainval").tolist()
    assert all(isinstance(item, ImageCrop) for item in boxed)
    # xmin=11, ymin=6, xmax=30, ymax=25 in 1-based inclusive pixels of a 48x40 photo.
    np.testing.assert_allclose(boxed[0].box, (10 / 48, 5 / 40, 30 / 48, 25 / 40))
    assert all(isinstance(item, str) for item in heads.data[~heads.has_box])
    with pytest.raises(ValueError, match="subset"):
        fetch_oxford_pets(data_home=tmp_path, subset="train")
    with pytest.raises(ValueError, match="crop"):
        fetch_oxford_pets(data_home=tmp_path, crop="body")


def test_oxford_pets_cross_validate_37_breeds(oxford_mirror, tmp_path):
    from sklearn.model_selection import StratifiedKFold, cross_validate

    from skcatdog import make_default_pipeline

    X, y = fetch_oxford_pets(data_home=tmp_path, base_url=oxford_mirror.url, subset="all", return_X_y=True)
    # The default pipeline (the CLI's and the README's), with the tiny random-weights backbone
    # (8 features) for speed, no cache (its weights are not ImageNet's), and 2 inner folds: the
    # outer training folds hold 2 photos per breed.
    model = make_default_pipeline(backbone="tiny_test", cv=2, cache=None)
    scores = cross_validate(model, X, y, cv=StratifiedKFold(2, shuffle=True, random_state=0), scoring="accuracy")
    model.fit(X, y)
    assert model.predict_proba(X[:3]).shape == (3, 37) and len(model.classes_) == 37
    # Each breed has its own colour: well above 1-in-37 (0.027) by chance, through 8 random features.
    assert scores["test_score"].mean() > 0.2


def test_dogs_vs_cats_is_checked_against_its_pinned_sha256(ms_zip, tmp_path):
    data, _ = ms_zip  # a valid archive in the same layout, but not Microsoft's file
    pinned = "b7974bd00a84a99921f36ee4403f089853777b5ae8d151c76a86e64900334af9"
    assert datasets.DOGS_VS_CATS.checksum == pinned
    with Mirror({"kagglecatsanddogs_5340.zip": data}) as mirror, pytest.raises(DownloadError) as err:
        fetch_dogs_vs_cats(data_home=tmp_path, base_url=mirror.url)
    assert pinned in str(err.value) and sha256(data) in str(err.value)
    assert _listing(tmp_path / "dogs_vs_cats") == []  # the next call downloads it again
