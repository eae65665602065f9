"""precompute on a Dask LocalCluster of two worker processes, sharing a file:// ShardStore.

One cluster for the whole module (starting worker processes and TensorFlow in
them is most of this module's time).  The workers run the tiny random-weights
backbone, registered in each of them by a worker plugin.
"""

import io
import os
import pickle
import shutil
import threading
import time

import numpy as np
import pytest

distributed = pytest.importorskip("distributed")
pytest.importorskip("pyarrow")
pytest.importorskip("fsspec")

from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

import skcatdog.distributed as skdist
from skcatdog import ImageLoadError, _engine, get_backbone
from skcatdog.distributed import ShardStore
from tests._helpers import TRAIN, needs_shared, tiny_transformer

VIEWS = ("crop", "full")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    # Worker processes inherit this environment: their default caches stay in tmp, never ~/.cache.
    env = tmp_path_factory.mktemp("worker-env")
    saved = os.environ.get("SKCATDOG_CACHE_DIR")
    os.environ["SKCATDOG_CACHE_DIR"] = str(env / "default-cache")
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
    client = distributed.Client(cluster)
    client.register_plugin(skdist.WorkerSetup(tf_threads=1, preload=["tests.conftest"]))
    try:
        yield cluster, client
    finally:
        client.close()
        cluster.close()
        if saved is None:
            os.environ.pop("SKCATDOG_CACHE_DIR", None)
        else:
            os.environ["SKCATDOG_CACHE_DIR"] = saved


@pytest.fixture
def client(cluster):
    skdist.reset_worker_stats(cluster[1])
    return cluster[1]


def forwarded_on_workers(client):
    return sum(skdist.worker_stats(client).values())


def make_photos(folder, n, seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        p = folder / f"img{i}.jpg"
        Image.fromarray(rng.integers(0, 256, size=(40 + i % 7, 30 + i % 5, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    return paths


def transformer(url, **params):
    return tiny_transformer(views=VIEWS, cache=url, **params)


def stored_rows(url, paths, view, tmp_path):
    """The store's rows for ``paths``, read by a host that has never seen it."""
    from skcatdog._images import read_source
    from skcatdog._store import row_key

    spec = get_backbone("tiny_test")
    fingerprint = _engine.fingerprint(spec, None, "float32")
    store = ShardStore(url, local_cache=tmp_path / f"fresh-reader-{view}-{time.monotonic_ns()}")
    keys = [row_key(fingerprint, view, read_source(p).digest) for p in paths]
    return store.get_many(keys, spec.embedding_dim + spec.n_classes)


def single_process_rows(paths, view):
    rows = _engine.embed(paths, "tiny_test", weights=None, view=view, cache=None)
    return np.concatenate([rows.embeddings, rows.logits], axis=1)


def test_rows_equal_the_single_process_engine_and_each_content_is_forwarded_once(client, tmp_path):
    paths = make_photos(tmp_path / "photos", 20)
    dup = tmp_path / "photos" / "copy-of-img0.jpg"
    shutil.copy(paths[0], dup)
    X = paths + [str(dup), paths[3]]  # the same content three more times
    url = f"file://{tmp_path}/store"
    report = transformer(url).precompute(X, client=client, partition_size=6)
    assert report["unique_missing"] == 20
    assert report["missing"] == report["forwarded"] == 40  # 20 contents x 2 views
    assert forwarded_on_workers(client) == 40
    assert report["tasks"] == 4
    for view in VIEWS:
        got = stored_rows(url, paths, view, tmp_path)
        assert all(r is not None for r in got)
        np.testing.assert_allclose(np.stack(got), single_process_rows(paths, view), atol=1e-6)
    assert len(ShardStore(url, local_cache=tmp_path / "count")) == 40

    # A rerun, here or from a second, independent client, forwards nothing.
    assert transformer(url).precompute(X, client=client)["forwarded"] == 0
    with distributed.Client(client.scheduler.address, set_as_default=False) as other:
        assert transformer(url, batch_size=8).precompute(X, client=other)["forwarded"] == 0
    assert forwarded_on_workers(client) == 40
    # Only the new photos are forwarded when the set grows.
    more = make_photos(tmp_path / "more", 3, seed=1)
    assert transformer(url).precompute(X + more, client=client)["forwarded"] == 6
    assert forwarded_on_workers(client) == 46


def _files_read():
    return _engine.stats.files_read


def _set_default_cache_dir(path):
    previous = os.environ.get("SKCATDOG_CACHE_DIR")
    if path is None:
        os.environ.pop("SKCATDOG_CACHE_DIR", None)
    else:
        os.environ["SKCATDOG_CACHE_DIR"] = path
    return previous


def _chdir(path):
    previous = os.getcwd()
    os.chdir(path)
    return previous


def test_the_client_only_lists_the_items_and_the_workers_read_them(client, tmp_path):
    # Relative paths that name photos in the workers' working directory, not in this one:
    # a client that stat-ed, read or digested a photo would find nothing there.
    paths = make_photos(tmp_path / "photos", 12)
    names = [os.path.basename(p) for p in paths]
    names += names[:3]  # copies in other probe slices than their originals: forwarded once
    assert not any(os.path.exists(n) for n in names)
    before = client.run(_chdir, str(tmp_path / "photos"))
    try:
        url = f"file://{tmp_path}/store"
        report = transformer(url).precompute(names, client=client)
        assert report["unique_missing"] == 12 and report["forwarded"] == forwarded_on_workers(client) == 24
    finally:
        for worker, cwd in before.items():
            client.run(_chdir, cwd, workers=[worker])
    for view in VIEWS:
        np.testing.assert_allclose(
            np.stack(stored_rows(url, paths, view, tmp_path)), single_process_rows(paths, view), atol=1e-6
        )


def test_a_warm_second_precompute_reads_no_photo_and_forwards_nothing(client, tmp_path):
    paths = make_photos(tmp_path / "photos", 30)
    time.sleep(2.1)  # photos whose digests the hosts' memos may keep (see skcatdog._store.digest_trusted)
    url = f"file://{tmp_path}/store"
    first = transformer(url).precompute(paths, client=client)
    assert first["forwarded"] == 60 and sum(client.run(_files_read).values()) > 0
    skdist.reset_worker_stats(client)
    second = transformer(url).precompute(paths, client=client)
    assert second["forwarded"] == second["missing"] == second["tasks"] == 0
    assert sum(client.run(_files_read).values()) == 0


def test_verbose_shows_the_progress_of_each_stage_on_the_cluster(client, tmp_path, capsys):
    paths = make_photos(tmp_path / "photos", 12)
    transformer(f"file://{tmp_path}/store", verbose=1).precompute(paths, client=client)
    shown = capsys.readouterr().err
    assert "identifying on the workers" in shown and "computing on the workers" in shown
    transformer(f"file://{tmp_path}/store2").precompute(paths, client=client)
    assert "on the workers" not in capsys.readouterr().err


def test_transform_here_reads_the_rows_the_cluster_stored(client, tmp_path, forward_count):
    paths = make_photos(tmp_path / "photos", 10)
    url = f"file://{tmp_path}/store"
    est = transformer(url)
    est.precompute(paths, client=client)
    got = est.transform(paths)
    assert forward_count() == 0
    np.testing.assert_allclose(got, transformer(None).transform(paths), atol=1e-6)


def test_the_pickled_transformer_holds_no_client(client, tmp_path):
    paths = make_photos(tmp_path / "photos", 4)
    est = transformer(f"file://{tmp_path}/store")
    est.precompute(paths, client=client)
    blob = pickle.dumps(est)
    assert b"distributed" not in blob and b"tcp://" not in blob and len(blob) < 2000
    assert pickle.loads(blob).get_params() == est.get_params()


def test_bad_items_give_one_error_naming_each_like_the_local_engine(client, tmp_path):
    good = make_photos(tmp_path / "photos", 6)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    truncated = tmp_path / "truncated.jpg"
    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (200, 200, 3), dtype=np.uint8)).save(buf, "JPEG")
    truncated.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    X = good[:3] + [str(tmp_path / "missing.jpg"), str(text)] + good[3:] + [str(truncated)]
    url = f"file://{tmp_path}/store"
    with pytest.raises(ImageLoadError) as remote:
        transformer(url).precompute(X, client=client)
    with pytest.raises(ImageLoadError) as local:
        transformer(None).transform(X)
    assert remote.value.problems == local.value.problems
    assert [name for name, _ in remote.value.problems] == [str(tmp_path / "missing.jpg"), str(text), str(truncated)]
    # The good photos were stored all the same: fixing the bad ones costs only them.
    for view in VIEWS:
        assert all(r is not None for r in stored_rows(url, good, view, tmp_path))


def test_a_gpu_cluster_refuses_a_worker_without_a_gpu(client, tmp_path):
    paths = make_photos(tmp_path / "photos", 2)
    with pytest.raises(RuntimeError, match="has no GPU visible to Keras"):
        transformer(f"file://{tmp_path}/store").precompute(paths, client=client, require_gpu=True)
    assert forwarded_on_workers(client) == 0


def test_gpu_decoding_asked_of_workers_that_cannot_is_refused_by_name(client, tmp_path):
    paths = make_photos(tmp_path / "photos", 2)
    est = transformer(f"file://{tmp_path}/store", decoder="gpu")
    with pytest.raises(RuntimeError, match="cannot decode on a GPU.*skcatdog\\[gpu\\]"):
        est.precompute(paths, client=client)
    assert forwarded_on_workers(client) == 0


def test_workers_decode_as_this_process_does_whatever_cpu_decoder_it_names(client, tmp_path, forward_count):
    from skcatdog import config_context

    paths = make_photos(tmp_path / "photos", 3)
    est = transformer(f"file://{tmp_path}/store")
    with config_context(decoder="processes"):  # the workers decode in threads: the same pixels
        est.precompute(paths, client=client)
    est.transform(paths)
    assert forward_count() == 0


def test_cache_none_is_refused(client, tmp_path):
    with pytest.raises(ValueError, match="cache=None"):
        transformer(None).precompute(make_photos(tmp_path / "p", 1), client=client)


def test_a_directory_cache_works_when_every_worker_is_on_this_host(client, tmp_path):
    paths = make_photos(tmp_path / "photos", 5)
    est = transformer(str(tmp_path / "dir-cache"))
    assert est.precompute(paths, client=client)["forwarded"] == 10
    assert est.precompute(paths, client=client)["forwarded"] == 0
    assert forwarded_on_workers(client) == 10


def test_without_a_cluster_precompute_runs_the_local_engine(tmp_path, monkeypatch, forward_count):
    monkeypatch.setattr(skdist, "_default_client", lambda: None)
    paths = make_photos(tmp_path / "photos", 3)
    est = transformer(str(tmp_path / "local"))
    assert est.precompute(paths)["forwarded"] == 6 == forward_count()
    est.transform(paths)
    assert forward_count() == 6


def _slow_writes(seconds):
    if not hasattr(ShardStore, "_fast_put_many"):
        ShardStore._fast_put_many = ShardStore.put_many

    def put_many(self, pairs):
        time.sleep(seconds)
        return ShardStore._fast_put_many(self, pairs)

    ShardStore.put_many = put_many


def test_a_worker_killed_mid_run_loses_no_row_and_duplicates_none(cluster, client, tmp_path):
    paths = make_photos(tmp_path / "photos", 48)
    url = f"file://{tmp_path}/store"
    # Slow the workers down so the kill lands while tasks are running (the restarted one is fast again).
    client.run(_slow_writes, 0.3)
    pids = client.run(os.getpid)
    result, errors = {}, []

    def run():
        try:
            result.update(transformer(url).precompute(paths, client=client, partition_size=4))
        except Exception as exc:  # noqa: BLE001 - re-raised in the test's thread below
            errors.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    store = ShardStore(url, local_cache=tmp_path / "watcher")
    deadline = time.monotonic() + 60
    while not store.shards() and time.monotonic() < deadline:
        time.sleep(0.05)
    shards_at_kill = len(store.shards())
    victim = min(pids.values())
    os.kill(victim, 9)
    thread.join(timeout=120)
    assert not thread.is_alive() and not errors, errors
    assert 0 < shards_at_kill < result["tasks"]  # killed mid-run, not before nor after
    assert victim not in client.run(os.getpid).values()  # it really died (the nanny started another)
    assert len(store) == 96
    for view in VIEWS:
        got = stored_rows(url, paths, view, tmp_path)
        np.testing.assert_allclose(np.stack(got), single_process_rows(paths, view), atol=1e-6)
    client.run(_slow_writes, 0.0)


def test_grid_search_on_the_dask_backend_reproduces_the_local_score_and_forwards_nothing(
    client, tmp_path, forward_count
):
    import joblib

    paths = make_photos(tmp_path / "photos", 24)
    y = np.array([0, 1] * 12)
    url = f"file://{tmp_path}/store"
    est = transformer(url)
    est.precompute(paths, client=client)
    skdist.reset_worker_stats(client)
    grid = {"logisticregression__C": [0.1, 1.0]}
    search = GridSearchCV(make_pipeline(est, LogisticRegression()), grid, cv=3, scoring="neg_log_loss")
    # The reference: this process alone, with the default joblib backend and its own local cache.
    here = transformer(str(tmp_path / "local-cache"))
    local = GridSearchCV(make_pipeline(here, LogisticRegression()), grid, cv=3, scoring="neg_log_loss")
    local.fit(paths, y)
    forward_count_local = forward_count()
    with joblib.parallel_config(backend="dask"):
        search.set_params(n_jobs=-1).fit(paths, y)
    assert forwarded_on_workers(client) == 0
    # The refit on the whole set ran here, from the shared store: no forward pass either.
    assert forward_count() == forward_count_local
    np.testing.assert_allclose(
        search.cv_results_["mean_test_score"], local.cv_results_["mean_test_score"], rtol=0, atol=1e-9
    )


# The documented keys of precompute's result, with a cluster or without.
RESULT_KEYS = {
    "items",
    "unique_missing",
    "missing",
    "forwarded",
    "tasks",
    "forwarded_per_worker",
    "precision",
    "decoder",
    "seconds",
}


def test_the_local_and_the_cluster_paths_return_the_same_counts_under_the_same_keys(client, tmp_path, monkeypatch):
    paths = make_photos(tmp_path / "photos", 6)
    X = paths + [paths[0]]
    remote = transformer(f"file://{tmp_path}/store").precompute(X, client=client)
    monkeypatch.setattr(skdist, "_default_client", lambda: None)
    local = transformer(str(tmp_path / "local")).precompute(X)
    assert set(remote) == set(local) == RESULT_KEYS
    assert set(remote["seconds"]) == set(local["seconds"]) == {"plan", "compute", "total", "decode", "forward", "store"}
    for key in ("items", "unique_missing", "missing", "forwarded", "precision", "decoder"):
        assert remote[key] == local[key], key
    assert (local["items"], local["unique_missing"], local["missing"]) == (7, 6, 12)
    assert local["precision"] == {"tiny_test": _engine.resolve_precision("auto", "tiny_test")}
    assert local["decoder"] == _engine.resolve_decoder("auto") == "pillow"
    assert local["tasks"] == 1 and sum(local["forwarded_per_worker"].values()) == 12


# Engine functions replaced in a worker process, and what the replacement saw.
_ORIGINALS = {}
_CALLS = []


def _recording_embed_many(items, backbone, **request):
    _CALLS.append({"items": len(items), "decoder": request["decoder"], "precision": request["precision"]})
    return [None]


def _fake_engine(precision=None, gpu_decoder=None, pillow=None):
    """In a worker: record the engine's calls instead of computing; pretend to resolve ``"auto"``
    to ``precision``, to decode on a GPU as ``gpu_decoder`` and with Pillow as ``pillow``."""
    from skcatdog import _engine, _images
    from skcatdog._engine import gpu

    fakes = {(_engine, "embed_many"): _recording_embed_many}
    if pillow:
        fakes[(_images, "DECODER_ID")] = pillow
    if precision:
        fakes[(_engine, "resolve_precision")] = lambda asked, backbone=None: precision if asked == "auto" else asked
    if gpu_decoder:
        fakes[(_engine, "gpu_decoder_id")] = lambda: gpu_decoder
        fakes[(gpu, "default_id")] = lambda: gpu_decoder
    for (module, name), fake in fakes.items():
        _ORIGINALS.setdefault((module, name), getattr(module, name))
        setattr(module, name, fake)


def _real_engine():
    for (module, name), original in _ORIGINALS.items():
        setattr(module, name, original)
    _ORIGINALS.clear()
    calls = list(_CALLS)
    _CALLS.clear()
    return calls


@pytest.fixture
def fake_workers(client):
    """``fake(precision=..., gpu_decoder=..., workers=...)`` fakes the workers' engine; the fixture
    returns a function that puts it back and gives each worker's recorded calls."""
    yield lambda **kwargs: client.run(_fake_engine, **kwargs)
    client.run(_real_engine)


def test_the_decoder_parameter_travels_to_every_worker(client, tmp_path, fake_workers):
    fake_workers(gpu_decoder="nvimgcodec-test")
    paths = make_photos(tmp_path / "photos", 8)
    est = transformer(f"file://{tmp_path}/store", decoder="gpu")
    # This process cannot decode on a GPU: transform here would name its pixels otherwise.
    with pytest.warns(UserWarning, match="decoder='gpu', which transform here will not find: .*other libraries"):
        report = est.precompute(paths, client=client, partition_size=2)
    calls = [call for worker in client.run(_real_engine).values() for call in worker]
    assert report["decoder"] == "gpu" and report["tasks"] == 4  # 8 contents, 2 a task
    assert [call["decoder"] for call in calls] == ["gpu"] * 4


def test_workers_that_disagree_on_gpu_decoding_libraries_are_refused(client, tmp_path, fake_workers):
    for n, worker in enumerate(client.scheduler_info()["workers"]):
        fake_workers(gpu_decoder=f"nvimgcodec-{n}", workers=[worker])
    est = transformer(f"file://{tmp_path}/store", decoder="gpu")
    with pytest.raises(RuntimeError, match="decode photos differently.*nvImageCodec and torch"):
        est.precompute(make_photos(tmp_path / "photos", 2), client=client)


def test_workers_whose_pillow_resizes_otherwise_are_refused(client, tmp_path, fake_workers):
    fake_workers(pillow="pil-resizes-otherwise", workers=list(client.scheduler_info()["workers"])[:1])
    with pytest.raises(RuntimeError, match="decode photos differently.*install the same Pillow on every worker"):
        transformer(f"file://{tmp_path}/store").precompute(make_photos(tmp_path / "photos", 2), client=client)


def test_precision_auto_is_what_every_worker_picks(client, tmp_path, fake_workers):
    # Workers that all compute in bfloat16 (a CPU with AMX, for a backbone checked in it), unlike this process.
    fake_workers(precision="bfloat16")
    paths = make_photos(tmp_path / "photos", 4)
    with pytest.warns(UserWarning, match="will not find: set precision='bfloat16' on the transformer"):
        report = transformer(f"file://{tmp_path}/store").precompute(paths, client=client)
    calls = [call for worker in client.run(_real_engine).values() for call in worker]
    assert report["precision"] == {"tiny_test": "bfloat16"}
    assert calls and {call["precision"] for call in calls} == {"bfloat16"}


def test_precision_auto_is_float32_where_the_workers_disagree(client, tmp_path, fake_workers):
    workers = list(client.scheduler_info()["workers"])
    fake_workers()
    fake_workers(precision="bfloat16", workers=workers[:1])
    paths = make_photos(tmp_path / "photos", 4)
    report = transformer(f"file://{tmp_path}/store").precompute(paths, client=client)
    calls = [call for worker in client.run(_real_engine).values() for call in worker]
    assert report["precision"] == {"tiny_test": "float32"}
    assert calls and {call["precision"] for call in calls} == {"float32"}


@needs_shared
def test_an_audit_on_the_cluster_gives_the_local_result_from_what_the_store_holds(
    client, tmp_path, forward_count, monkeypatch
):
    import pandas as pd

    from skcatdog import find_issues

    # This process on the workers' host: it shares their digest memo, as a client beside its workers does.
    host_dir = str(tmp_path / "host-cache")
    monkeypatch.setenv("SKCATDOG_CACHE_DIR", host_dir)
    before = client.run(_set_default_cache_dir, host_dir)
    photos = [str(p) for label in ("cat", "dog") for p in sorted((TRAIN / label).glob("*.jpg"))[:30]]
    planted = tmp_path / "planted-copy.jpg"
    shutil.copy(photos[3], planted)
    time.sleep(2.1)  # a file the memo may keep (see skcatdog._store.digest_trusted)
    X = photos + [str(planted)]
    y = ["cat"] * 30 + ["dog"] * 31  # the copy of a cat, filed as a dog
    url = f"file://{tmp_path}/store"
    try:
        remote = find_issues(X, y, backbone="tiny_fixed", cache=url, client=client)
    finally:
        for worker, previous in before.items():
            client.run(_set_default_cache_dir, previous, workers=[worker])
    # Embeddings, logits and measures came from the store: no forward pass here, no photo read to digest it.
    assert forward_count() == 0 and _engine.stats.files_read == 0
    assert forwarded_on_workers(client) == 2 * len(photos)
    local = find_issues(X, y, backbone="tiny_fixed", cache=str(tmp_path / "local"))
    assert forward_count() == 2 * len(photos)
    assert {"exact_duplicate"} <= set(local["issue"])
    pd.testing.assert_frame_equal(pd.DataFrame(remote), pd.DataFrame(local), check_exact=False, rtol=1e-5)


def test_an_audit_on_the_cluster_needs_a_shared_store(client, tmp_path):
    from skcatdog import find_issues

    with pytest.raises(ValueError, match="client=.*shared store's fsspec URL"):
        find_issues(make_photos(tmp_path / "photos", 2), backbone="tiny_test", cache=str(tmp_path), client=client)
    assert forwarded_on_workers(client) == 0
