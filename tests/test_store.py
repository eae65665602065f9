"""The store interface: every backend implements it, and the factory turns every cache parameter into one."""

import numpy as np
import pytest

from skcatdog._store import Capabilities, Store, open_store
from skcatdog._store.null import NullStore
from skcatdog._store.shards import ShardStore
from skcatdog._store.sqlite import SQLiteStore


@pytest.fixture(params=["sqlite", "shards", "null"])
def backend(request, tmp_path):
    if request.param == "sqlite":
        return SQLiteStore(tmp_path / "rows")
    if request.param == "shards":
        return ShardStore(f"file://{tmp_path}/shared", local_cache=tmp_path / "local")
    return NullStore()


def test_every_backend_implements_the_protocol_and_declares_what_it_can(backend):
    assert isinstance(backend, Store)
    assert isinstance(backend.capabilities, Capabilities)
    row = np.arange(6, dtype=np.float32)
    backend.put_many([("k", row)])
    backend.flush()
    got = backend.get_many(["k", "absent"], 6)
    if backend.capabilities.keeps_rows:
        np.testing.assert_array_equal(got[0], row)
        np.testing.assert_array_equal(backend.get_many(["k"], 6, cols=(2, 4))[0], row[2:4])
    else:
        assert got[0] is None
    assert got[1] is None
    assert backend.get_many(["k"], 5) == [None]  # a row of another width is a miss


def test_the_factory_accepts_every_kind_of_cache_parameter(tmp_path):
    assert not open_store(None).keeps_rows
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
    store.put_many([("k", row)], 4)
    rows, from_memory = store.lookup(["k"], 4, (0, 4))
    assert from_memory and rows[0].tolist() == row.tolist()
    fresh_memory()
    rows, from_memory = store.lookup(["k"], 4, (1, 3))
    assert not from_memory and rows[0].tolist() == [1, 2]
    assert store.lookup(["k"], 4, (1, 3))[1]  # kept in memory with the columns read
