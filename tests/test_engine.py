"""The shared engine: order, deduplication, cache hits, batching, precision."""

import numpy as np
import pytest

from skcatdog import _engine, config_context
from skcatdog._engine import embed, resolve_precision
from tests._helpers import random_images


def _embed(items, **kw):
    kw.setdefault("weights", None)
    return embed(items, "tiny_test", **kw)


def test_rows_keep_input_order_and_match_a_cacheless_run(image_files, forward_count):
    paths = image_files(10)
    cached = _embed(paths, batch_size=4)
    fresh = _embed(paths[::-1], batch_size=3, cache=None)
    np.testing.assert_allclose(cached.embeddings, fresh.embeddings[::-1], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(cached.logits, fresh.logits[::-1], rtol=1e-5, atol=1e-5)
    assert cached.embeddings.shape == (10, 8) and cached.logits.shape == (10, 1000)
    assert cached.embeddings.dtype == np.float32


def test_second_call_is_all_cache_hits(image_files, forward_count):
    paths = image_files(6)
    first = _embed(paths)
    assert forward_count() == 6
    second = _embed(paths)
    assert forward_count() == 6
    np.testing.assert_array_equal(first.embeddings, second.embeddings)


def test_identical_content_is_computed_once(tmp_path, forward_count):
    from PIL import Image

    arr = random_images(1)[0]
    paths = []
    for name in ("a.png", "b.png", "c.png"):
        Image.fromarray(arr).save(tmp_path / name)
        paths.append(str(tmp_path / name))
    rows = _embed(paths + [arr], cache=None)
    assert forward_count() == 2  # the three files share bytes; the array is its own content
    np.testing.assert_array_equal(rows.embeddings[0], rows.embeddings[2])


def test_cache_key_is_content_not_path(tmp_path, forward_count):
    from PIL import Image

    arr = random_images(1)[0]
    Image.fromarray(arr).save(tmp_path / "first.png")
    _embed([str(tmp_path / "first.png")])
    (tmp_path / "renamed.png").write_bytes((tmp_path / "first.png").read_bytes())
    _embed([str(tmp_path / "renamed.png")])
    assert forward_count() == 1


def test_views_are_cached_separately_and_mirror_is_the_flipped_image(forward_count):
    images = random_images(3)
    full = _embed(images, view="full")
    mirror = _embed(images, view="mirror")
    assert forward_count() == 6
    flipped = _embed([im[:, ::-1].copy() for im in images], view="full", cache=None)
    np.testing.assert_allclose(mirror.embeddings, flipped.embeddings, atol=1e-6)
    assert not np.allclose(full.embeddings, mirror.embeddings)


def test_one_batch_shape_per_call(monkeypatch, forward_count):
    shapes = []
    original = _engine.runner.Runner.forward

    def spy(self, batch, n_real=None):
        shapes.append(batch.shape)
        return original(self, batch, n_real)

    monkeypatch.setattr(_engine.runner.Runner, "forward", spy)
    _embed(random_images(10), batch_size=4, cache=None)
    assert shapes == [(4, 32, 32, 3)] * 3
    shapes.clear()
    _embed(random_images(3, seed=1), batch_size=64, cache=None)
    assert shapes == [(4, 32, 32, 3)]  # three images pay for one padded row, not 61


def test_model_is_built_once_per_process():
    _embed(random_images(2, seed=5), cache=None)
    _engine.stats.reset()
    _embed(random_images(2, seed=6), cache=None)
    _embed(random_images(1, seed=7), cache=None, batch_size=1)
    assert _engine.stats.models_built == 0


def test_fingerprint_separates_weights_and_precision(tmp_path):
    from skcatdog._engine import fingerprint

    w = tmp_path / "w.weights.h5"
    w.write_bytes(b"one")
    a = fingerprint("tiny_test", None, "float32")
    assert a == fingerprint("tiny_test", None, "float32")
    assert a != fingerprint("tiny_test", None, "mixed")
    assert a != fingerprint("tiny_test", "imagenet", "float32")
    b = fingerprint("tiny_test", w, "float32")
    w.write_bytes(b"two")
    import os

    os.utime(w, ns=(1, 1))
    assert fingerprint("tiny_test", w, "float32") != b
    import dataclasses

    from skcatdog.backbones import get_backbone

    revised = dataclasses.replace(get_backbone("tiny_test"), revision="2")
    assert fingerprint(revised, None, "float32") != a


def test_unknown_view_is_rejected():
    with pytest.raises(ValueError, match="view"):
        _embed(random_images(1), view="upside-down")


def test_mixed_precision_gives_float32_rows_close_to_float32(forward_count):
    # On a GPU "auto" picks "mixed"; the path itself runs anywhere.
    images = random_images(4, seed=9)
    exact = _embed(images, precision="float32")
    mixed = _embed(images, precision="mixed")
    assert forward_count() == 8  # its own cache rows, not the float32 ones
    assert mixed.embeddings.dtype == np.float32 and mixed.logits.dtype == np.float32
    np.testing.assert_allclose(mixed.embeddings, exact.embeddings, rtol=2e-2, atol=2e-2)
    import keras

    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


def test_auto_precision_is_float32_without_a_gpu():
    if _engine.gpu_available():
        pytest.skip("a GPU is visible: auto means mixed here")
    assert resolve_precision("auto") == "float32"


def test_asking_for_one_part_returns_the_same_numbers(forward_count):
    images = random_images(3, seed=11)
    both = _embed(images)
    only_embeddings = _embed(images, outputs=("embeddings",))
    only_logits = _embed(images, outputs=("logits",))
    assert forward_count() == 3  # one pass filled the cache for every part
    assert only_embeddings.logits is None and only_logits.embeddings is None
    np.testing.assert_array_equal(only_embeddings.embeddings, both.embeddings)
    np.testing.assert_array_equal(only_logits.logits, both.logits)
    fresh = _embed(random_images(2, seed=12), outputs=("logits",))
    assert fresh.logits.shape == (2, 1000)
    with pytest.raises(ValueError, match="outputs"):
        _embed(images, outputs=("pixels",))


def test_mean_views_is_the_mean_of_the_views_whatever_was_cached(image_files, isolated_cache):
    from skcatdog._images import VIEWS

    paths = image_files(5)
    per_view = _engine.embed_many(paths, "tiny_test", None, views=VIEWS, cache=None, outputs=("embeddings",))
    expected = per_view[0].embeddings.copy()
    for rows in per_view[1:]:
        expected += rows.embeddings
    expected /= np.float32(len(VIEWS))
    # Cold; then two views cached for some photos only; then warm: the same bits every time.
    _engine.embed_many(paths[:2], "tiny_test", None, views=VIEWS[1:3], outputs=("embeddings",))
    for _ in range(2):
        (mean,) = _engine.embed_many(paths, "tiny_test", None, views=VIEWS, outputs=("embeddings",), mean_views=True)
        np.testing.assert_array_equal(mean.embeddings, expected)


def test_bfloat16_rows_are_float32_rows_to_bf16_rounding_in_rows_of_their_own(forward_count):
    from skcatdog._engine import fingerprint
    from skcatdog._runtimes import select

    assert len({fingerprint("tiny_test", None, p) for p in ("float32", "mixed", "bfloat16")}) == 3
    images = random_images(4, seed=11)
    exact = _embed(images, precision="float32")
    bf16 = _embed(images, precision="bfloat16")
    assert forward_count() == 8  # its own cache rows, not the float32 ones
    assert bf16.embeddings.dtype == np.float32 and bf16.logits.dtype == np.float32
    np.testing.assert_allclose(bf16.embeddings, exact.embeddings, rtol=2e-2, atol=2e-2)
    np.testing.assert_allclose(bf16.logits, exact.logits, rtol=2e-2, atol=2e-2)
    runner = _engine.get_runner("tiny_test", None, "bfloat16")
    assert runner.runtime == select("bfloat16").runtime.ID
    import keras

    assert keras.config.dtype_policy().name == "float32"  # the global policy is restored


@pytest.mark.parametrize("behind", [False, True], ids=["in-turn", "finishing-thread"])
def test_a_failed_store_write_fails_the_call_and_the_rows_before_it_stay(image_files, tmp_path, monkeypatch, behind):
    from skcatdog._engine import compute
    from skcatdog._store import local_store

    monkeypatch.setattr(compute, "finishes_behind", lambda: behind)  # as on a GPU, or a CPU

    paths = image_files(12)
    store = local_store(tmp_path / "cache")
    original, writes = store.put_many, []

    def failing(pairs, *args):
        pairs = list(pairs)
        writes.append(len(pairs))
        if len(writes) == 2:
            raise OSError("disk full")
        return original(pairs, *args)

    monkeypatch.setattr(store, "put_many", failing)
    with pytest.raises(OSError, match="disk full"):
        embed(paths, "tiny_test", None, cache=store, batch_size=4, n_jobs=1)
    monkeypatch.setattr(store, "put_many", original)
    # The first batch was stored; with a finishing thread the failure surfaces a batch later.
    assert len(_engine.find_missing(paths, "tiny_test", None, cache=store).rows) == 8


def test_rows_finished_behind_are_all_placed_stored_and_equal(image_files, tmp_path, monkeypatch, forward_count):
    from skcatdog._engine import compute

    monkeypatch.setattr(compute, "finishes_behind", lambda: True)
    paths = image_files(13)
    cache = tmp_path / "cache"
    first = embed(paths, "tiny_test", None, cache=cache, batch_size=4, n_jobs=1)
    assert forward_count() == 13
    again = embed(paths, "tiny_test", None, cache=cache, batch_size=4, n_jobs=1)
    assert forward_count() == 13  # every batch was stored, the last one too
    np.testing.assert_array_equal(first.embeddings, again.embeddings)


def test_batches_keep_one_shape_per_process_on_a_gpu_and_shrink_for_small_calls_on_a_cpu(monkeypatch):
    from skcatdog._engine import compute

    assert [compute.batch_step(64, n) for n in (1, 3, 64, 1000)] == [1, 4, 64, 64]
    monkeypatch.setattr(compute, "gpu_available", lambda: True)
    assert [compute.batch_step(256, n) for n in (1, 3, 300)] == [256, 256, 256]


# --- guards for bugs that once survived the nearest tests -----------------------------------------


def _bmp_pair(tmp_path, side=300):
    """Two BMP files (rows stored bottom-up) equal in their first ~200 KiB and differing only in
    the top rows of the picture, which are the file's last bytes."""
    from PIL import Image

    rng = np.random.default_rng(7)
    pixels = rng.integers(0, 256, size=(side, side, 3), dtype=np.uint8)
    other = pixels.copy()
    other[:40] = 255 - other[:40]  # the top rows: the end of a bottom-up BMP
    paths = []
    for name, arr in (("a.bmp", pixels), ("b.bmp", other)):
        Image.fromarray(arr).save(tmp_path / name, "BMP")
        paths.append(str(tmp_path / name))
    a, b = (open(p, "rb").read() for p in paths)
    shared = next(i for i, (x, y) in enumerate(zip(a, b, strict=True)) if x != y)
    assert shared > 128 * 1024 and len(a) == len(b)
    return paths


def test_files_sharing_a_long_prefix_get_different_digests_and_rows(tmp_path, forward_count):
    from skcatdog._engine import content_digests

    paths = _bmp_pair(tmp_path)
    digests, problems = content_digests(paths, cache=tmp_path / "cache")
    assert problems == [] and digests[0] != digests[1]
    rows = _embed(paths, view="full", cache=tmp_path / "cache")
    assert forward_count() == 2
    assert not np.array_equal(rows.embeddings[0], rows.embeddings[1])


def test_a_file_that_grows_past_the_size_cap_while_it_is_read_is_refused(image_files, monkeypatch):
    import os

    from skcatdog import ImageLoadError

    (path,) = image_files(1, seed=21)
    real_fstat = os.fstat

    def fstat_then_grow(fd):
        st = real_fstat(fd)  # checked under the cap; another process appends before the read
        with open(path, "ab") as f:
            f.write(b"\0" * 4096)
        return st

    monkeypatch.setattr(os, "fstat", fstat_then_grow)
    with config_context(max_file_bytes=os.path.getsize(path) + 100):
        with pytest.raises(ImageLoadError) as info:
            _embed([path], cache=None)
    ((name, reason),) = info.value.problems
    assert name == path and "grew past the limit" in reason


def test_the_warm_mean_of_three_views_counts_every_view(image_files, isolated_cache, fresh_memory):
    views = ("crop", "full", "mirror")
    paths = image_files(4, seed=31)
    (cold,) = _engine.embed_many(paths, "tiny_test", None, views=views, cache=None, mean_views=True)
    per_view = _engine.embed_many(paths, "tiny_test", None, views=views)  # every view stored; no mean yet
    expected = (per_view[0].embeddings + per_view[1].embeddings + per_view[2].embeddings) / np.float32(3)
    np.testing.assert_allclose(cold.embeddings, expected, rtol=1e-6, atol=1e-7)
    fresh_memory()  # a new process: every view's row found, the mean made from them
    (warm,) = _engine.embed_many(paths, "tiny_test", None, views=views, mean_views=True)
    np.testing.assert_allclose(warm.embeddings, cold.embeddings, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(warm.logits, cold.logits, rtol=1e-6, atol=1e-6)


def test_a_weights_file_rewritten_in_place_changes_the_fingerprint(tmp_path, old_files):
    import os

    from skcatdog._engine import fingerprint

    w = tmp_path / "w.weights.h5"
    w.write_bytes(b"one")
    before = fingerprint("tiny_test", w, "float32")
    st = os.stat(w)
    w.write_bytes(b"two")  # same size; the mtime is set back below, the ctime cannot be
    os.utime(w, ns=(st.st_atime_ns, st.st_mtime_ns))
    after = os.stat(w)
    assert (after.st_size, after.st_mtime_ns, after.st_ino) == (st.st_size, st.st_mtime_ns, st.st_ino)
    assert fingerprint("tiny_test", w, "float32") != before
