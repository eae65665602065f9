"""ShardStore: the shared append-only store, alone (the cluster that fills it is in test_distributed)."""

import pickle
import subprocess
import sys
import textwrap
import uuid
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("fsspec")
pytest.importorskip("pyarrow")

from skcatdog.distributed import ShardStore, compact

ROOT = Path(__file__).resolve().parents[1]


def row(seed, width=6):
    return np.random.default_rng(seed).standard_normal(width).astype(np.float32)


@pytest.fixture(params=["file", "memory"])
def url(request, tmp_path):
    if request.param == "file":
        return f"file://{tmp_path}/store"
    # memory:// is one namespace per process: a fresh prefix per test.
    return f"memory://skcatdog-test-{uuid.uuid4().hex}"


def test_rows_written_by_one_host_are_read_by_another(url, tmp_path):
    writer = ShardStore(url, local_cache=tmp_path / "host-a")
    writer.put_many([("k1", row(1)), ("k2", row(2))])
    reader = ShardStore(url, local_cache=tmp_path / "host-b")
    # Buffered rows are not published: nobody else sees them, nothing counts them.
    assert reader.get_many(["k1", "k2"], 6) == [None, None]
    assert len(writer) == 0
    writer.flush()
    got = reader.get_many(["k1", "k2", "absent"], 6)
    np.testing.assert_array_equal(got[0], row(1))
    np.testing.assert_array_equal(got[1], row(2))
    assert got[2] is None
    assert len(reader) == len(writer) == 2
    assert len(writer.shards()) == 1
    # A row of another width is a miss, as in the local store.
    assert reader.get_many(["k1"], 7) == [None]


def test_a_full_buffer_publishes_a_shard_without_waiting_for_flush(url, tmp_path):
    store = ShardStore(url, local_cache=tmp_path / "a", shard_rows=4)
    store.put_many((f"k{i}", row(i)) for i in range(3))
    assert store.shards() == []
    store.put_many([("k3", row(3))])
    assert len(store.shards()) == 1 and len(store) == 4
    store.flush()  # nothing buffered: no empty shard
    assert len(store.shards()) == 1


def test_a_key_written_twice_is_one_row(url, tmp_path):
    a = ShardStore(url, local_cache=tmp_path / "a")
    b = ShardStore(url, local_cache=tmp_path / "b")
    a.put_many([("same", row(1)), ("only-a", row(2))])
    a.flush()
    b.put_many([("same", row(1)), ("only-b", row(3))])
    b.flush()
    assert len(a.shards()) == 2
    assert len(a) == 3
    fresh = ShardStore(url, local_cache=tmp_path / "c")
    np.testing.assert_array_equal(fresh.get("same", 6), row(1))


def test_compaction_merges_shards_and_drops_duplicates(url, tmp_path):
    writers = [ShardStore(url, local_cache=tmp_path / f"w{i}") for i in range(3)]
    for i, store in enumerate(writers):
        store.put_many([("shared", row(0)), (f"own{i}", row(10 + i))])
        store.flush()
    early = ShardStore(url, local_cache=tmp_path / "early")
    assert early.get("own0", 6) is not None  # has loaded the three small shards
    report = compact(url)
    assert report == {
        "shards_before": 3,
        "shards_after": 1,
        "rows": 4,
        "duplicates_dropped": 2,
        "damaged_set_aside": [],
    }
    assert len(writers[0]) == 4
    late = ShardStore(url, local_cache=tmp_path / "late")
    keys = ["shared", "own0", "own1", "own2"]
    for store in (early, late):
        got = store.get_many(keys, 6)
        for value, expected in zip(got, [row(0), row(10), row(11), row(12)], strict=True):
            np.testing.assert_array_equal(value, expected)
    # One shard is already compact: nothing to do, nothing rewritten.
    name = late.shards()
    assert compact(url)["shards_after"] == 1 and late.shards() == name


def test_compact_needs_a_url(tmp_path):
    with pytest.raises(ValueError, match="fsspec URL"):
        compact(str(tmp_path))
    with pytest.raises(ValueError, match="fsspec URL"):
        ShardStore(str(tmp_path))


def test_hits_are_served_locally_without_listing_the_shards(url, tmp_path, monkeypatch):
    writer = ShardStore(url, local_cache=tmp_path / "w")
    writer.put_many([(f"k{i}", row(i)) for i in range(5)])
    writer.flush()
    reader = ShardStore(url, local_cache=tmp_path / "r")
    calls = []
    real_ls = reader._fs.ls
    monkeypatch.setattr(reader._fs, "ls", lambda *a, **k: calls.append(a) or real_ls(*a, **k))
    keys = [f"k{i}" for i in range(5)] + ["absent"]
    assert sum(r is not None for r in reader.get_many(keys, 6)) == 5
    assert len(calls) == 1  # one listing for the whole batch
    calls.clear()
    assert all(r is not None for r in reader.get_many(keys[:5], 6))
    assert calls == []  # all hits: the shared store is not touched


def test_only_new_shards_are_read(url, tmp_path, monkeypatch):
    writer = ShardStore(url, local_cache=tmp_path / "w")
    writer.put_many([("old", row(1))])
    writer.flush()
    reader = ShardStore(url, local_cache=tmp_path / "r")
    assert reader.get("old", 6) is not None
    before = set(writer.shards())
    writer.put_many([("new", row(2))])
    writer.flush()
    (new_shard,) = set(writer.shards()) - before
    opened = []
    real_open = reader._fs.open
    monkeypatch.setattr(reader._fs, "open", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k))
    np.testing.assert_array_equal(reader.get("new", 6), row(2))
    # Its key column (the index), then its rows: the new shard alone.
    assert len(opened) == 2 and all(path.endswith(new_shard) for path in opened)
    assert reader.get("still-absent", 6) is None
    assert len(opened) == 2  # a listing with nothing new reads nothing


def test_the_local_copy_survives_a_restart_without_rereading(tmp_path, monkeypatch):
    url = f"file://{tmp_path}/store"
    writer = ShardStore(url, local_cache=tmp_path / "w")
    writer.put_many([("k", row(1))])
    writer.flush()
    ShardStore(url, local_cache=tmp_path / "r").get("k", 6)
    # A new process on the same host (a fresh object, the same local directory):
    # the marks of loaded shards persist, so it neither lists nor opens anything.
    again = ShardStore(url, local_cache=tmp_path / "r")
    monkeypatch.setattr(again._fs, "open", lambda *a, **k: pytest.fail("read a shard it already had"))
    monkeypatch.setattr(again._fs, "ls", lambda *a, **k: pytest.fail("listed the shards for a hit"))
    np.testing.assert_array_equal(again.get("k", 6), row(1))


def test_pickles_to_its_url(url, tmp_path, monkeypatch):
    monkeypatch.setenv("SKCATDOG_CACHE_DIR", str(tmp_path / "default"))
    store = ShardStore(url, local_cache=tmp_path / "a")
    store.put_many([("k", row(1))])
    store.flush()
    blob = pickle.dumps(store)
    assert len(blob) < 200 and str(tmp_path / "a").encode() not in blob
    copy = pickle.loads(blob)
    assert copy.url == store.url
    assert str(copy.local_dir).startswith(str(tmp_path / "default" / "shared-"))
    np.testing.assert_array_equal(copy.get("k", 6), row(1))


def test_a_writer_killed_before_publishing_leaves_no_visible_shard(tmp_path):
    """SIGKILL between writing the shard and renaming it: the reader sees nothing, not a partial file."""
    url = f"file://{tmp_path}/store"
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(ROOT)!r})
        import numpy as np
        from skcatdog.distributed import ShardStore
        store = ShardStore({url!r}, local_cache={str(tmp_path / "killed")!r})
        store._fs.mv = lambda *a, **k: os.kill(os.getpid(), 9)
        store.put_many([("k%d" % i, np.ones(6, np.float32)) for i in range(10)])
        store.flush()
        """
    )
    proc = subprocess.run([sys.executable, "-c", script], check=False, capture_output=True, timeout=120)
    assert proc.returncode == -9, proc.stderr.decode()
    assert len(list((tmp_path / "store" / "tmp").iterdir())) == 1  # the unpublished bytes, invisible
    reader = ShardStore(url, local_cache=tmp_path / "reader")
    assert reader.shards() == [] and len(reader) == 0
    assert reader.get_many(["k0", "k9"], 6) == [None, None]
    # Nor did the killed writer's own host copy keep rows no other host can see.
    assert ShardStore(url, local_cache=tmp_path / "killed")._local_get_many(["k0"], 6) == [None]


def test_an_object_store_put_that_fails_publishes_nothing(tmp_path, monkeypatch):
    url = f"memory://skcatdog-test-{uuid.uuid4().hex}"
    store = ShardStore(url, local_cache=tmp_path / "a")

    def broken_pipe(path, data, **kwargs):
        raise ConnectionError("connection reset")

    monkeypatch.setattr(store._fs, "pipe", broken_pipe)
    store.put_many([("k", row(1))])
    with pytest.raises(ConnectionError):
        store.flush()
    monkeypatch.undo()
    assert ShardStore(url, local_cache=tmp_path / "b").get("k", 6) is None
    store.flush()  # the rows stayed buffered: a later flush publishes them
    np.testing.assert_array_equal(ShardStore(url, local_cache=tmp_path / "c").get("k", 6), row(1))


def test_compaction_bounds_each_merged_shard(tmp_path):
    url = f"file://{tmp_path}/store"
    for w in range(3):
        store = ShardStore(url, local_cache=tmp_path / f"w{w}")
        store.put_many([(f"k{w}-{i}", row(10 * w + i)) for i in range(3)] + [("dup", row(99))])
        store.flush()
    report = compact(url, rows_per_shard=4)
    assert report == {
        "shards_before": 3,
        "shards_after": 3,
        "rows": 10,
        "duplicates_dropped": 2,
        "damaged_set_aside": [],
    }
    reader = ShardStore(url, local_cache=tmp_path / "r")
    assert len(reader) == 10
    np.testing.assert_array_equal(reader.get("k2-1", 6), row(21))
    np.testing.assert_array_equal(reader.get("dup", 6), row(99))


def test_a_reader_racing_a_compaction_still_finds_every_row(tmp_path, monkeypatch):
    url = f"file://{tmp_path}/store"
    for w in range(2):
        store = ShardStore(url, local_cache=tmp_path / f"w{w}")
        store.put_many([(f"k{w}", row(w))])
        store.flush()
    reader = ShardStore(url, local_cache=tmp_path / "r")
    real_ls = reader._fs.ls
    state = {"reader_listings": 0, "compacting": False}

    def ls_then_compact(*args, **kwargs):
        # The reader lists the old shards, then they are compacted away before it opens them.
        # (fsspec shares one filesystem object per protocol: compact's own listings pass through here too.)
        names = real_ls(*args, **kwargs)
        if not state["compacting"]:
            state["reader_listings"] += 1
            if state["reader_listings"] == 1:
                state["compacting"] = True
                compact(url)
                state["compacting"] = False
        return names

    monkeypatch.setattr(reader._fs, "ls", ls_then_compact)
    got = reader.get_many(["k0", "k1"], 6)
    assert state["reader_listings"] == 2  # listed again after finding the shards gone
    np.testing.assert_array_equal(got[0], row(0))
    np.testing.assert_array_equal(got[1], row(1))


def test_cols_reads_part_of_each_row(url, tmp_path):
    writer = ShardStore(url, local_cache=tmp_path / "w")
    writer.put_many([("k", row(1))])
    assert writer.get_many(["k"], 6, cols=(2, 5))[0].tolist() == row(1)[2:5].tolist()  # buffered
    writer.flush()
    reader = ShardStore(url, local_cache=tmp_path / "r")
    assert reader.get_many(["k"], 6, cols=(0, 2))[0].tolist() == row(1)[:2].tolist()
    assert reader.get_many(["k"], 7, cols=(0, 2)) == [None]


def test_a_store_object_is_a_cache_parameter(image_files, tmp_path, forward_count):
    from sklearn.base import clone

    from tests._helpers import tiny_transformer

    store = ShardStore(f"file://{tmp_path}/objects", local_cache=tmp_path / "objects-local")
    est = tiny_transformer(views="crop", cache=store)
    paths = image_files(3)
    first = est.transform(paths)
    np.testing.assert_array_equal(clone(est).transform(paths), first)
    assert forward_count() == 3
    assert len(ShardStore(f"file://{tmp_path}/objects", local_cache=tmp_path / "other")) == 3


def test_a_shard_cut_in_half_is_skipped_with_a_warning_and_its_rows_computed_again(
    image_files, tmp_path, forward_count, fresh_memory
):
    from tests.conftest import tiny_transformer

    url = f"file://{tmp_path}/cut"
    paths = image_files(4)
    expected = tiny_transformer(views="crop", cache=url).transform(paths)  # this host's copy: the default
    (name,) = ShardStore(url, local_cache=tmp_path / "a").shards()
    shard = tmp_path / "cut" / "shards" / name
    data = shard.read_bytes()
    shard.write_bytes(data[: len(data) // 2])
    other_host = ShardStore(url, local_cache=tmp_path / "b")
    fresh_memory()  # as another host: nothing of the first call in memory
    with pytest.warns(RuntimeWarning, match=f"damaged shard {url}/shards/{name}"):
        got = tiny_transformer(views="crop", cache=other_host).transform(paths)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    assert forward_count() == 8  # the four rows, computed on each host
    assert len(ShardStore(url, local_cache=tmp_path / "c")) == 4  # and published again
    report = compact(url, min_shards=1)
    assert report["damaged_set_aside"] == [name]
    assert (tmp_path / "cut" / "damaged" / name).exists()
    fresh = ShardStore(url, local_cache=tmp_path / "d")
    assert name not in fresh.shards() and len(fresh) == 4


def test_which_keys_the_store_holds_comes_from_a_key_index_without_copying_rows(url, tmp_path, monkeypatch):
    writer = ShardStore(url, local_cache=tmp_path / "w")
    writer.put_many((f"k{i}", row(i)) for i in range(5))
    writer.flush()
    (first,) = writer.shards()
    writer.put_many((f"k{i}", row(i)) for i in range(5, 10))
    writer.flush()
    (second,) = set(writer.shards()) - {first}
    reader = ShardStore(url, local_cache=tmp_path / "r")
    opened = []
    real_open = reader._fs.open
    monkeypatch.setattr(reader._fs, "open", lambda path, *a, **k: opened.append(path) or real_open(path, *a, **k))
    assert reader.contains_many(["k0", "k7", "absent"], 6) == [True, True, False]
    assert reader._local_get_many(["k0", "k7"], 6) == [None, None]  # no row was copied to learn that
    assert len(opened) == 2  # each shard's key column, once
    opened.clear()
    np.testing.assert_array_equal(reader.get("k7", 6), row(7))
    assert opened and all(path.endswith(second) for path in opened)  # the shard that holds it, alone
    assert reader._local_get_many(["k0"], 6) == [None]
    # The index is kept on the host: a new process neither lists nor reads a shard for known keys.
    again = ShardStore(url, local_cache=tmp_path / "r")
    monkeypatch.setattr(again._fs, "ls", lambda *a, **k: pytest.fail("listed the shards for indexed keys"))
    assert again.contains_many([f"k{i}" for i in range(10)], 6) == [True] * 10


def test_measures_are_shared_with_every_host_apart_from_the_rows(url, tmp_path):
    from skcatdog._store import measure_key

    key = measure_key("quality/1", "d" * 40)
    writer = ShardStore(url, local_cache=tmp_path / "w")
    writer.measures.put_many([(key, row(1, width=3))])
    writer.flush()
    reader = ShardStore(url, local_cache=tmp_path / "r")
    np.testing.assert_array_equal(reader.measures.get_many([key], 3)[0], row(1, width=3))
    assert reader.measures.get_many([key], 4) == [None]
    assert reader.get_many([key], 3) == [None]  # not a model row


def test_a_host_copy_of_an_older_schema_keeps_its_rows_and_gains_the_key_index(tmp_path):
    import sqlite3

    url = f"file://{tmp_path}/store"
    writer = ShardStore(url, local_cache=tmp_path / "w")
    writer.put_many([("k", row(1))])
    writer.flush()
    ShardStore(url, local_cache=tmp_path / "old").get("k", 6)
    # As an earlier version left it: rows and loaded shards, no index.
    con = sqlite3.connect(tmp_path / "old" / "rows" / "store.sqlite3")
    con.execute("DROP TABLE shard_keys")
    con.execute("DROP TABLE indexed_shards")
    con.execute("PRAGMA user_version = 1")
    con.commit()
    con.close()
    again = ShardStore(url, local_cache=tmp_path / "old")
    np.testing.assert_array_equal(again.get("k", 6), row(1))
    writer.put_many([("k2", row(2))])
    writer.flush()
    assert again.contains_many(["k", "k2", "absent"], 6) == [True, True, False]
