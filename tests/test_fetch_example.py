"""The README's first command on a machine without ../shared: it fetches, or says in one line what to pass."""

import hashlib
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests._mirror import Mirror, dogs_vs_cats_zip

REPO = Path(__file__).resolve().parents[1]
EXAMPLE = REPO / "examples" / "cross_validate.py"
# Runs the example with the Microsoft archive's pinned SHA-256 replaced by the first argument's,
# for a mirror that serves a small archive of the same layout.
PINNED_TO = (
    "import runpy, sys; from skcatdog import datasets; "
    "datasets.DOGS_VS_CATS = datasets.DOGS_VS_CATS._replace(checksum=sys.argv.pop(1)); "
    "sys.argv[0] = sys.argv.pop(1); runpy.run_path(sys.argv[0], run_name='__main__')"
)


def run_example(tmp_path, mirror_url, *args, timeout=600, checksum=None):
    env = {
        **os.environ,
        "PYTHONPATH": os.fspath(REPO),
        "SKCATDOG_SHARED": os.fspath(tmp_path / "no-shared-here"),  # as on a fresh clone
        "SKCATDOG_DATA": os.fspath(tmp_path / "data-home"),
        "SKCATDOG_DATA_MIRROR": mirror_url,
        "SKCATDOG_CACHE_DIR": os.fspath(tmp_path / "cache"),
    }
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, os.fspath(EXAMPLE), *args]
        if checksum is None
        else [sys.executable, "-c", PINNED_TO, checksum, os.fspath(EXAMPLE), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
        cwd=REPO,
    )
    return proc, time.perf_counter() - start


def test_offline_without_data_stops_quickly_with_one_line(tmp_path):
    with socket.socket() as s:  # a loopback port nobody listens on: the network is unreachable
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc, seconds = run_example(tmp_path, f"http://127.0.0.1:{port}", timeout=120)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "pass a folder of labelled photos instead" in lines[0] and "cannot download" in lines[0]
    assert "fetch_dogs_vs_cats()" in proc.stdout  # it said it was going to fetch
    assert seconds < 60
    assert not any((tmp_path / "data-home").rglob("*.zip"))


def test_a_folder_that_does_not_exist_is_one_line_too(tmp_path):
    proc, _ = run_example(tmp_path, "http://127.0.0.1:9", os.fspath(tmp_path / "nowhere"), timeout=120)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert "does not exist" in proc.stderr


@pytest.mark.slow
def test_fetches_from_a_mirror_and_cross_validates(tmp_path):
    data, _ = dogs_vs_cats_zip()
    digest = hashlib.sha256(data).hexdigest()
    with Mirror({"kagglecatsanddogs_5340.zip": data}) as mirror:
        proc, _ = run_example(tmp_path, mirror.url, checksum=digest)
        assert proc.returncode == 0, proc.stderr[-3000:]
        assert len(mirror.requests) == 1
        # A second run reads what the first one fetched: no second download.
        again, _ = run_example(tmp_path, mirror.url, checksum=digest)
        assert again.returncode == 0 and len(mirror.requests) == 1
    assert "fetch_dogs_vs_cats()" in proc.stdout
    assert "12 photos from fetch_dogs_vs_cats()" in proc.stdout  # the corrupt and the empty file left out
    assert "5-fold CV log-loss" in proc.stdout and "5-fold CV accuracy" in proc.stdout
    assert "2 of 14 files are not usable images" in proc.stderr
