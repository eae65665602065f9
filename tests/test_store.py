"""The store interface: every backend, and the process memory in front of them, implements it
with the same methods; the factory turns every cache parameter into one."""

import os

import numpy as np
import pytest

from skcatdog._store import (
    CachedStore,
    Capabilities,
    DigestMemo,
    MeasureTable,
    Store,
    file_key,
    measure_key,
    open_store,
    row_key,
    row_prefix,
)
from skcatdog._store.null import NullStore
from skcatdog._store.shards import ShardStore
from skcatdog._store.sqlite import SQLiteStore

BACKENDS = ["sqlite", "shards", "null", "cached-sqlite", "cached-shards", "cached-null"]


def _make(kind, tmp_path):
    if kind.startswith("cached-"):
        return CachedStore(_make(kind.removeprefix("cached-"), tmp_path))
    if kind == "sqlite":
        return SQLiteStore(tmp_path / "rows")
    if kind == "shards":
        return ShardStore(f"file://{tmp_path}/shared", local_cache=tmp_path / "local")
    return NullStore()


@pytest.fixture(params=BACKENDS)
def store(request, tmp_path, fresh_memory):
    return _make(request.param, tmp_path)


def _file(tmp_path, name="photo.jpg"):
    path = tmp_path / name
    path.write_bytes(b"not read")
    return file_key(str(path), os.stat(path))


def test_every_store_implements_the_protocol(store, tmp_path, fresh_memory):
    assert isinstance(store, Store)
    assert isinstance(store.capabilities, Capabilities)
    assert isinstance(store.digests, DigestMemo) and isinstance(store.measures, MeasureTable)
    keeps = store.capabilities.stores_rows
    row = np.arange(6, dtype=np.float32)
    store.put_many([("k", row)])
    store.flush()
    fresh_memory()  # what the backend keeps, not process memory
    got = store.get_many(["k", "absent"], 6)
    assert got[1] is None
    if keeps:
        np.testing.assert_array_equal(got[0], row)
        np.testing.assert_array_equal(store.get_many(["k"], 6, cols=(2, 4))[0], row[2:4])
        rows, _ = store.lookup(["k", "absent"], 6)
        np.testing.assert_array_equal(rows[0], row)
        assert rows[1] is None
    else:
        assert got[0] is None
    assert store.get_many(["k"], 5) == [None]  # a row of another width is a miss


def test_every_store_keeps_digests_and_measures_in_their_own_namespaces(store, tmp_path, fresh_memory):
    keeps = store.capabilities.stores_rows
    photo, other = _file(tmp_path, "a.jpg"), _file(tmp_path, "b.jpg")
    digest = "d" * 40
    store.digests.put_many([(photo, digest)])
    measure = np.array([1.5, 2.5, 3.5], np.float32)
    store.measures.put_many([(measure_key("quality/1", digest), measure)])
    store.flush()
    fresh_memory()
    assert store.digests.get_many([photo, other]) == [digest if keeps else None, None]
    got = store.measures.get_many([measure_key("quality/1", digest), measure_key("print/1", digest)], 3)
    assert got[1] is None
    if keeps:
        np.testing.assert_array_equal(got[0], measure)
        assert store.measures.get_many([measure_key("quality/1", digest)], 4) == [None]
    else:
        assert got[0] is None
    # A digest, a measure and a row of the same name never meet.
    assert store.get_many([measure_key("quality/1", digest), digest], 3) == [None, None]


def test_get_many_by_file_gives_each_file_digest_and_row(store, tmp_path, fresh_memory):
    keeps = store.capabilities.stores_rows
    a, b, unknown = _file(tmp_path, "a.jpg"), _file(tmp_path, "b.jpg"), _file(tmp_path, "c.jpg")
    store.digests.put_many([(a, "da"), (b, "db")])
    prefix = row_prefix("fp", "mean(crop+full)[0:3]")
    assert prefix + "da" == row_key("fp", "mean(crop+full)[0:3]", "da")
    row = np.ones(3, np.float32)
    store.put_many([(prefix + "da", row)])
    store.flush()
    fresh_memory()
    digests, rows = store.get_many_by_file([a, b, unknown], prefix, 3)
    if not keeps:
        assert digests == rows == [None] * 3
        return
    assert digests == ["da", "db", None]
    np.testing.assert_array_equal(rows[0], row)
    assert rows[1] is None and rows[2] is None


def test_process_memory_methods(store, fresh_memory):
    value = np.arange(3, dtype=np.float32)
    store.memory_put_many([(("tag", "d"), value)])
    (held,) = store.memory_get_many([("tag", "d")])
    if isinstance(store, CachedStore) and store.capabilities.stores_rows:
        assert held is value
    else:
        assert held is None  # a backend holds nothing in process memory


def test_the_factory_accepts_every_kind_of_cache_parameter(tmp_path):
    assert not open_store(None).capabilities.stores_rows
    assert open_store(False) is open_store(None)
    local = open_store(tmp_path / "a")
    assert local is open_store(str(tmp_path / "a")) and local.capabilities.local
    shared = open_store(f"file://{tmp_path}/b")
    assert not shared.capabilities.local and shared.name == f"file://{tmp_path}/b"
    mine = SQLiteStore(tmp_path / "c")
    assert open_store(mine).backend is mine
    assert open_store(open_store(mine)) is open_store(mine)
    with pytest.raises(ValueError, match="cache must be"):
        open_store(3)


def test_process_memory_sits_in_front_of_the_backend(tmp_path, fresh_memory):
    store = open_store(tmp_path / "m")
    row = np.arange(4, dtype=np.float32)
    store.put_many([("k", row)])
    rows, from_memory = store.lookup(["k"], 4, (0, 4))
    assert from_memory and rows[0].tolist() == row.tolist()
    fresh_memory()
    rows, from_memory = store.lookup(["k"], 4, (1, 3))
    assert not from_memory and rows[0].tolist() == [1, 2]
    assert store.lookup(["k"], 4, (1, 3))[1]  # kept in memory with the columns read
