"""The embedding store: location, format checks, several processes, a killed process."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from skcatdog import KerasEmbeddingTransformer, default_cache_dir
from skcatdog._cache import EmbeddingStore, open_store, resolve_cache_dir

ROOT = Path(__file__).resolve().parents[1]


def test_default_location_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("SKCATDOG_CACHE_DIR", str(tmp_path / "here"))
    assert default_cache_dir() == tmp_path / "here"
    monkeypatch.delenv("SKCATDOG_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "skcatdog"
    assert resolve_cache_dir("auto") == tmp_path / "xdg" / "skcatdog"
    assert resolve_cache_dir(None) is None
    assert resolve_cache_dir(tmp_path) == tmp_path
    with pytest.raises(ValueError, match="cache must be"):
        resolve_cache_dir(3)


def test_cache_parameter_overrides_the_default(image_files, tmp_path, isolated_cache):
    mine = tmp_path / "mine"
    KerasEmbeddingTransformer(backbone="tiny_test", weights=None, views="crop", cache=mine).transform(image_files(2))
    assert len(open_store(mine)) == 2
    assert not isolated_cache.exists() or len(open_store(isolated_cache)) == 0


def test_cache_none_stores_nothing_and_recomputes(image_files, forward_count, isolated_cache):
    est = KerasEmbeddingTransformer(backbone="tiny_test", weights=None, views="crop", cache=None)
    paths = image_files(3)
    est.transform(paths)
    est.transform(paths)
    assert forward_count() == 6
    assert not isolated_cache.exists()


def test_a_row_of_the_wrong_length_is_a_miss(tmp_path):
    store = EmbeddingStore(tmp_path)
    store.put_many([("k", np.arange(4, dtype=np.float32))])
    assert store.get("k", 4).tolist() == [0, 1, 2, 3]
    assert store.get("k", 5) is None
    assert store.get("absent", 4) is None


def _run(code, cache):
    script = textwrap.dedent(
        f"""
        import os, sys
        os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
        sys.path.insert(0, {str(ROOT)!r})
        import tests.conftest  # registers the tiny backbone
        from skcatdog import KerasEmbeddingTransformer
        from skcatdog import _engine
        """
    ) + textwrap.dedent(code)
    return subprocess.Popen(
        [sys.executable, "-c", script],
        env={**__import__("os").environ, "SKCATDOG_CACHE_DIR": str(cache)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_several_processes_share_one_cache(image_files, tmp_path, forward_count):
    paths = image_files(40)
    cache = tmp_path / "shared-cache"
    code = f"""
        est = KerasEmbeddingTransformer(backbone="tiny_test", weights=None, views="crop", batch_size=4)
        est.transform({paths!r})
        print("ok")
        """
    procs = [_run(code, cache) for _ in range(3)]
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    est = KerasEmbeddingTransformer(backbone="tiny_test", weights=None, views="crop", cache=cache)
    rows = est.transform(paths)
    assert forward_count() == 0
    fresh = KerasEmbeddingTransformer(backbone="tiny_test", weights=None, views="crop", cache=None).transform(paths)
    np.testing.assert_allclose(rows, fresh, atol=1e-6)


def test_a_process_killed_mid_run_leaves_a_usable_cache(image_files, tmp_path, forward_count):
    paths = image_files(24)
    cache = tmp_path / "killed-cache"
    # Die hard (no cleanup, no atexit) during the third forward pass.
    code = f"""
        import os
        original = _engine._Runner.forward
        calls = []
        def dying(self, batch, n_real=None):
            calls.append(1)
            if len(calls) == 3:
                os._exit(9)
            return original(self, batch, n_real)
        _engine._Runner.forward = dying
        KerasEmbeddingTransformer(backbone="tiny_test", weights=None, views="crop", batch_size=4).transform({paths!r})
        """
    p = _run(code, cache)
    p.communicate(timeout=300)
    assert p.returncode == 9
    assert len(open_store(cache)) == 8  # two whole batches were committed
    rows = KerasEmbeddingTransformer(backbone="tiny_test", weights=None, views="crop", cache=cache).transform(paths)
    assert forward_count() == 16
    fresh = KerasEmbeddingTransformer(backbone="tiny_test", weights=None, views="crop", cache=None).transform(paths)
    np.testing.assert_allclose(rows, fresh, atol=1e-6)
