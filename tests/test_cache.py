"""The embedding store: location, format checks, several processes, a killed process."""

import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from skcatdog import default_cache_dir
from skcatdog._store import local_store, resolve_cache_dir
from skcatdog._store.sqlite import SQL_BATCH, SQLiteStore
from tests._helpers import tiny_transformer

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
    tiny_transformer(views="crop", cache=mine).transform(image_files(2))
    assert len(local_store(mine)) == 2
    assert not isolated_cache.exists() or len(local_store(isolated_cache)) == 0


def test_cache_none_stores_nothing_and_recomputes(image_files, forward_count, isolated_cache):
    est = tiny_transformer(views="crop", cache=None)
    paths = image_files(3)
    est.transform(paths)
    est.transform(paths)
    assert forward_count() == 6
    assert not isolated_cache.exists()


def test_a_row_of_the_wrong_length_is_a_miss(tmp_path):
    store = SQLiteStore(tmp_path)
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
        import tests._helpers  # registers the tiny backbone
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
    est = tiny_transformer(views="crop", cache=cache)
    rows = est.transform(paths)
    assert forward_count() == 0
    fresh = tiny_transformer(views="crop", cache=None).transform(paths)
    np.testing.assert_allclose(rows, fresh, atol=1e-6)


def test_a_process_killed_mid_run_leaves_a_usable_cache(image_files, tmp_path, forward_count):
    paths = image_files(24)
    cache = tmp_path / "killed-cache"
    # Die hard (no cleanup, no atexit) during the third forward pass.
    code = f"""
        import os
        original = _engine.runner.Runner.forward
        calls = []
        def dying(self, batch, n_real=None):
            calls.append(1)
            if len(calls) == 3:
                os._exit(9)
            return original(self, batch, n_real)
        _engine.runner.Runner.forward = dying
        KerasEmbeddingTransformer(backbone="tiny_test", weights=None, views="crop", batch_size=4).transform({paths!r})
        """
    p = _run(code, cache)
    p.communicate(timeout=300)
    assert p.returncode == 9
    # Whole batches were committed: the first for certain, the second if its write (one
    # batch behind the forward passes) had finished; never part of one.
    stored = len(local_store(cache))
    assert stored in (4, 8)
    rows = tiny_transformer(views="crop", cache=cache).transform(paths)
    assert forward_count() == 24 - stored
    fresh = tiny_transformer(views="crop", cache=None).transform(paths)
    np.testing.assert_allclose(rows, fresh, atol=1e-6)


# --- the warm path: digest memo, batched lookups, rows in memory ---------------------------------


def _tiny(cache, views=("crop", "full")):
    return tiny_transformer(views=views, cache=cache)


@pytest.fixture
def reads(monkeypatch):
    """Paths whose bytes were read since the test started."""
    from skcatdog import _images

    seen = []
    original = _images.read_file

    def counting(path):
        seen.append(path)
        return original(path)

    monkeypatch.setattr(_images, "read_file", counting)
    return seen


def test_get_many_matches_get_across_batches(tmp_path):
    store = SQLiteStore(tmp_path)
    rows = {f"k{i}": np.full(3, i, dtype=np.float32) for i in range(SQL_BATCH + 7)}
    store.put_many(rows.items())
    store.put_many([("short", np.zeros(2, np.float32))])
    keys = ["absent", *rows, "short"]
    got = store.get_many(keys, 3)
    assert got[0] is None and got[-1] is None  # absent, and a row of the wrong length
    for key, row in zip(keys[1:-1], got[1:-1], strict=True):
        np.testing.assert_array_equal(row, store.get(key, 3))
        np.testing.assert_array_equal(row, rows[key])


def test_get_many_reads_wide_rows(tmp_path):
    store = SQLiteStore(tmp_path)
    wide = np.arange(10_000, dtype=np.float32)  # 40 kB: spans several database pages
    store.put_many([("wide", wide)])
    np.testing.assert_array_equal(store.get_many(["wide"], 10_000)[0], wide)
    np.testing.assert_array_equal(store.get_many(["wide"], 10_000, cols=(9_000, 9_500))[0], wide[9_000:9_500])


def _files(*names):
    return [(f"/photos/{n}", 1, i, 100, 5, 6) for i, n in enumerate(names)]  # file keys (path, dev, ino, ...)


def test_get_many_by_file_joins_the_memo_and_the_rows(tmp_path):
    store = SQLiteStore(tmp_path)
    wide = np.arange(10_000, dtype=np.float32)  # 40 kB: spans several database pages
    a, b, c, absent = _files("a", "b", "c", "absent")
    store.digests.put_many([(a, "da"), (b, "db"), (c, "dc")])
    store.put_many([("p/da", np.ones(3, np.float32)), ("p/dc", np.zeros(2, np.float32)), ("q/db", wide)])
    digests, got = store.get_many_by_file([a, b, c, absent], "p/", 3)
    assert digests == ["da", "db", "dc", None]
    np.testing.assert_array_equal(got[0], np.ones(3, np.float32))
    assert got[1] is None  # no row under this prefix
    assert got[2] is None  # a row of another width
    assert got[3] is None
    (digest,), (row,) = store.get_many_by_file([b], "q/", 10_000)
    assert digest == "db"
    np.testing.assert_array_equal(row, wide)


def test_reads_wait_for_a_store_another_process_is_creating(tmp_path):
    import sqlite3

    from skcatdog._store.sqlite import DB_NAME

    sqlite3.connect(tmp_path / DB_NAME).close()  # the file exists, its tables not yet
    store = SQLiteStore(tmp_path)
    assert store.get_many(["k"], 3) == [None]
    assert store.digests.get_many(_files("x")) == [None]


def test_len_counts_rows_not_memoised_digests_or_measures(tmp_path):
    store = SQLiteStore(tmp_path)
    store.put_many([("a", np.zeros(2, np.float32))])
    x, absent = _files("x.jpg", "absent")
    store.digests.put_many([(x, "d" * 40)])
    store.measures.put_many([("quality/1/" + "d" * 40, np.zeros(6, np.float32))])
    assert len(store) == 1
    assert store.digests.get_many([x, absent]) == ["d" * 40, None]


def test_warm_transform_in_a_new_process_reads_no_photo(
    old_files, image_files, isolated_cache, monkeypatch, fresh_memory, reads
):
    paths = image_files(6)
    first = _tiny("auto").transform(paths)
    assert len(reads) == 6 * 2  # read to digest, read again to decode (bytes are not held)
    fresh_memory()
    reads.clear()
    np.testing.assert_array_equal(_tiny("auto").transform(paths), first)
    assert reads == []


def test_recent_files_are_re_read(image_files, isolated_cache, fresh_memory, reads):
    paths = image_files(3)  # written just now: inside the racy window, so never memoised
    _tiny("auto").transform(paths)
    fresh_memory()
    reads.clear()
    _tiny("auto").transform(paths)
    assert sorted(reads) == sorted(paths)


def _rewrite_same_size_same_mtime(path, seed):
    """Replace a JPEG's pixels in place, keeping its inode, size and mtime."""
    import io
    import os
    import time

    from PIL import Image

    from tests._helpers import random_images

    st = os.stat(path)
    for attempt in range(50):
        buf = io.BytesIO()
        Image.fromarray(random_images(1, seed=seed + attempt)[0]).save(buf, "JPEG", quality=75)
        data = buf.getvalue()
        if len(data) <= st.st_size:
            break
    data = data + b"\0" * (st.st_size - len(data))  # JPEG decoders ignore bytes after the end marker
    time.sleep(0.05)  # a later ctime tick
    with open(path, "r+b") as f:
        f.write(data)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    new = os.stat(path)
    assert (new.st_ino, new.st_size, new.st_mtime_ns) == (st.st_ino, st.st_size, st.st_mtime_ns)


@pytest.mark.parametrize("memoised", [False, True], ids=["recent-file", "memoised-digest"])
def test_a_file_rewritten_in_place_gets_its_new_row(
    image_files, isolated_cache, request, fresh_memory, forward_count, memoised
):
    if memoised:  # even a digest the memo trusts: the rewrite moved the ctime
        request.getfixturevalue("old_files")
    paths = image_files(2, seed=3)
    est = _tiny("auto", views="crop")
    before = est.transform(paths)
    _rewrite_same_size_same_mtime(paths[0], seed=100)
    for new_process in (False, True):
        if new_process:
            fresh_memory()
        after = est.transform(paths)
        expected = _tiny(None, views="crop").transform(paths)
        np.testing.assert_allclose(after, expected, atol=1e-6)
        assert not np.allclose(after[0], before[0])
        np.testing.assert_array_equal(after[1], before[1])


def test_repeated_transform_is_served_from_memory(image_files, isolated_cache, monkeypatch, fresh_memory):
    from skcatdog import set_config

    paths = image_files(5)
    est = _tiny("auto")
    first = est.transform(paths)
    store = local_store(isolated_cache)
    queries = []
    original = store.get_many
    monkeypatch.setattr(
        store, "get_many", lambda keys, width, **kw: queries.append(len(keys)) or original(keys, width, **kw)
    )
    np.testing.assert_array_equal(est.transform(paths), first)
    assert queries == []  # no SQLite read at all
    try:
        set_config(memory_cache_bytes=0)
        fresh_memory()
        np.testing.assert_array_equal(est.transform(paths), first)
        assert queries == [5]  # one batched query: the 5 photos' stored means of the 2 views
    finally:
        set_config(memory_cache_bytes=512 * 2**20)


def test_a_repeated_call_is_answered_whole_from_memory(old_files, image_files, isolated_cache, fresh_memory):
    from skcatdog import _engine, config_context

    paths = image_files(5)
    est = _tiny("auto")
    first = est.transform(paths)
    expected = first.copy()
    first[:] = 0  # the caller owns what it was given

    def recalled(X):
        """The output, and whether the call was answered whole (no item looked up)."""
        before = _engine.stats.calls_recalled, _engine.stats.items_identified
        out = est.transform(X)
        after = _engine.stats.calls_recalled, _engine.stats.items_identified
        whole = after[0] == before[0] + 1
        assert whole == (after[1] == before[1])
        return out, whole

    assert not recalled(paths)[1]  # the first call computed its rows: its output was not copied
    np.testing.assert_array_equal(est.transform(paths), expected)  # every row from memory: remembered
    again, whole = recalled(paths)
    assert whole
    np.testing.assert_array_equal(again, expected)
    again[:] = 0
    out, whole = recalled(paths)
    assert whole
    np.testing.assert_array_equal(out, expected)
    out, whole = recalled(list(np.asarray(paths)))  # numpy strings
    assert whole
    np.testing.assert_array_equal(out, expected)
    assert not recalled(paths[::-1])[1]  # other items: looked up, not recalled
    with config_context(memory_cache_bytes=8 * first.nbytes - 1):  # an output over an eighth: not kept
        fresh_memory()
        est.transform(paths)  # read from the store: not kept
        est.transform(paths)  # from memory: kept, but for its size
        assert not recalled(paths)[1]
    fresh_memory()
    est.transform(paths)  # as a new process's call: rows read from the store, so not copied
    assert not recalled(paths)[1]
    np.testing.assert_array_equal(est.transform(paths[::-1]), expected[::-1])


@pytest.fixture
def identified():
    """Counts the items the identify phase looks up from now on (a remembered call looks up none)."""
    from skcatdog import _engine

    start = _engine.stats.items_identified
    return lambda: _engine.stats.items_identified - start


def test_a_call_is_remembered_only_when_every_row_came_from_memory(
    old_files, image_files, isolated_cache, monkeypatch, fresh_memory, identified
):
    paths = image_files(3)
    est = _tiny("auto", views=("crop",))  # one view: rows are looked up one by one, not as a mean

    def looked_up():
        before = identified()
        out = est.transform(paths)
        return identified() > before, out

    first = est.transform(paths)  # computed
    assert [looked_up()[0] for _ in range(2)] == [True, False]  # from memory, then remembered
    fresh_memory()
    looked, out = looked_up()  # read from the store, as a new process would
    np.testing.assert_array_equal(out, first)
    assert looked and [looked_up()[0] for _ in range(2)] == [True, False]


def test_a_whole_call_is_remembered_only_when_every_file_is_memoised(image_files, isolated_cache, identified):
    paths = image_files(3)  # written just now: inside the racy window, so never memoised
    est = _tiny("auto")
    first = est.transform(paths)
    est.transform(paths)  # every row from memory: remembered if its files were memoised
    before = identified()
    np.testing.assert_array_equal(est.transform(paths), first)
    assert identified() > before, "a call on files that may still be changing was answered whole"


def test_a_remembered_call_answers_only_the_same_columns(
    old_files, image_files, isolated_cache, monkeypatch, fresh_memory
):
    from skcatdog import _engine

    paths = image_files(3)
    both = _engine.embed(paths, "tiny_test", None, outputs=("embeddings", "logits"))
    for outputs in [("embeddings", "logits"), ("embeddings",), ("logits",)]:
        rows = _engine.embed(paths, "tiny_test", None, outputs=outputs)
        for part in outputs:
            np.testing.assert_array_equal(getattr(rows, part), getattr(both, part))


def test_memory_rows_are_bounded(fresh_memory):
    from skcatdog import config_context
    from skcatdog._store.memory import MemoryRows

    memory = MemoryRows()
    row = np.zeros(250, np.float32)  # 1,000 bytes
    with config_context(memory_cache_bytes=3_500):
        memory.put_many([(("s", f"k{i}"), row) for i in range(5)])
        got = memory.get_many([("s", f"k{i}") for i in range(5)])
    assert [g is not None for g in got] == [False, False, True, True, True]  # least recently used went first


def test_arrays_and_crops_keep_their_rows(image_files, isolated_cache, fresh_memory, forward_count):
    from skcatdog import ImageCrop
    from tests._helpers import random_images

    path = image_files(1)[0]
    items = [random_images(1, seed=5)[0], ImageCrop(path, (0, 0, 0.5, 0.5)), ImageCrop(path, (0.5, 0.5, 1, 1)), path]
    first = _tiny("auto").transform(items)
    assert forward_count() == 8
    fresh_memory()
    np.testing.assert_array_equal(_tiny("auto").transform(items), first)
    assert forward_count() == 8
    assert len({tuple(r) for r in first}) == 4


def test_a_miss_is_read_again_when_its_memo_entry_is_gone(
    old_files, image_files, isolated_cache, monkeypatch, fresh_memory
):

    paths = image_files(2)
    _tiny("auto", views="crop").transform(paths)  # the digests are memoised now
    from skcatdog._engine.identify import Identifier
    from skcatdog._store import memory

    identify = Identifier.identify

    def identify_then_forget(self, chunk):  # as when another thread fills the memo and it is cleared
        found = identify(self, chunk)
        memory.digests.clear()
        return found

    monkeypatch.setattr(Identifier, "identify", identify_then_forget)
    got = _tiny("auto", views="full").transform(paths)  # a view not cached yet: a miss per photo
    np.testing.assert_allclose(got, _tiny(None, views="full").transform(paths), atol=1e-6)


def test_the_mean_of_the_views_is_stored_once_per_photo(
    old_files, image_files, isolated_cache, monkeypatch, fresh_memory
):
    from skcatdog import _engine

    paths = image_files(4)
    store = local_store(isolated_cache)
    rows = _engine.embed_many(paths, "tiny_test", None, views=("crop", "full"), cache=isolated_cache)
    assert len(store) == 8  # the views' rows only: no mean was asked for
    fresh_memory()
    mean = _tiny(isolated_cache).transform(paths)  # every view found: the means are computed and stored
    expected = (rows[0].embeddings + rows[1].embeddings) / np.float32(2)
    np.testing.assert_array_equal(mean, expected)
    assert len(store) == 12
    queries = []
    for name in ("get_many", "get_many_by_file"):
        original = getattr(store, name)
        monkeypatch.setattr(
            store,
            name,
            lambda keys, *args, _name=name, _original=original: (
                queries.append((_name, len(keys), args[-1])) or _original(keys, *args)
            ),
        )
    fresh_memory()
    np.testing.assert_array_equal(_tiny(isolated_cache).transform(paths), mean)
    # A new process reads each photo's digest and mean (8 floats) in one query.
    assert queries == [("get_many_by_file", 4, 8)]
    assert len(store) == 12


def test_a_damaged_database_is_set_aside_and_its_rows_computed_again(image_files, tmp_path, forward_count):
    from skcatdog._store.sqlite import DB_NAME

    paths = image_files(3)
    cache = tmp_path / "damaged"
    cache.mkdir()
    (cache / DB_NAME).write_bytes(b"this is not a database\n" * 1000)
    with pytest.warns(RuntimeWarning, match=f"{DB_NAME} is damaged"):
        rows = tiny_transformer(views="crop", cache=cache).transform(paths)
    np.testing.assert_allclose(rows, tiny_transformer(views="crop", cache=None).transform(paths), atol=1e-6)
    assert [p.name.startswith(f"{DB_NAME}.damaged-") for p in cache.iterdir()].count(True) == 1
    assert len(local_store(cache)) == 3  # the rows computed were stored in a new database
    forwarded = forward_count()
    tiny_transformer(views="crop", cache=cache).transform(paths)
    assert forward_count() == forwarded


def test_a_full_store_keeps_its_rows_and_warns_naming_the_setting(tmp_path, monkeypatch):
    from skcatdog._store.sqlite import SIZE_LIMIT, SIZE_LIMIT_ENV, StoreFullWarning

    store = SQLiteStore(tmp_path / "small", size_limit=1)
    store.put_many([("first", np.zeros(4, np.float32))])  # an empty store takes its first batch
    with pytest.warns(StoreFullWarning, match=r"\$SKCATDOG_CACHE_SIZE_LIMIT") as warned:
        store.put_many([("second", np.ones(4, np.float32))])
    assert str(tmp_path / "small") in str(warned[0].message)
    assert store.get("first", 4) is not None  # nothing is evicted
    assert store.get("second", 4) is None
    assert SIZE_LIMIT_ENV == "SKCATDOG_CACHE_SIZE_LIMIT"
    assert SIZE_LIMIT >= 10**6 * (2 * 9_120 + 5_120) * 2  # a million photos, two views and their mean, twice over
    monkeypatch.setenv(SIZE_LIMIT_ENV, "12345")
    assert SQLiteStore(tmp_path / "env").size_limit == 12345
    monkeypatch.setenv(SIZE_LIMIT_ENV, "lots")
    with pytest.raises(ValueError, match="SKCATDOG_CACHE_SIZE_LIMIT"):
        SQLiteStore(tmp_path / "bad")
