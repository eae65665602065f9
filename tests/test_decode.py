"""Decoders run ahead of the model: the prefetching wrapper used when the forward pass is on a GPU."""

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from skcatdog._engine import embed_many
from skcatdog._engine.decode import Batch, DecodeJob, Prefetched, ThreadDecoder, fill_batches


class Counting:
    """A decoder whose batches reuse one buffer, as the CPU decoders' do; row ``k`` holds ``k``."""

    id = "counting"

    def __init__(self, fail_after=None):
        self.fail_after = fail_after
        self.closed = threading.Event()

    def batches(self, jobs, size, step):
        def decoded():
            for k, job in enumerate(jobs):
                if self.fail_after is not None and k == self.fail_after:
                    raise OSError("disk went away")
                if job.key.startswith("bad"):
                    yield job.key, None, "corrupt"
                else:
                    yield job.key, {"crop": np.full((size, size, 3), k % 256, np.uint8)}, None

        try:
            yield from fill_batches(decoded(), size, step)
        finally:
            self.closed.set()


def _jobs(keys):
    return [DecodeJob(key, None, ("crop",)) for key in keys]


def _prefetch_threads():
    return [t for t in threading.enumerate() if t.name == "skcatdog-prefetch"]


def test_batches_arrive_whole_and_in_order_while_the_decoder_reuses_its_buffer():
    keys = [f"bad{k}" if k % 7 == 3 else f"ok{k}" for k in range(50)]
    seen, bad = {}, []
    for batch in Prefetched(Counting(), np.array, depth=2).batches(_jobs(keys), 4, 8):
        time.sleep(0.002)  # a slow model: the decoder runs ahead and refills its buffer meanwhile
        bad.extend(key for key, _ in batch.bad)
        for j, (key, _) in enumerate(batch.slots):
            seen[key] = int(batch.pixels[j, 0, 0, 0])
    assert bad == [k for k in keys if k.startswith("bad")]
    assert seen == {k: i for i, k in enumerate(keys) if k.startswith("ok")}
    assert not _prefetch_threads()


def test_a_decoder_error_reaches_the_consumer_and_the_thread_ends():
    decoder = Counting(fail_after=20)
    with pytest.raises(OSError, match="disk went away"):
        for _ in Prefetched(decoder, np.array).batches(_jobs([f"ok{k}" for k in range(40)]), 4, 8):
            pass
    assert decoder.closed.is_set()
    assert not _prefetch_threads()


def test_a_consumer_that_stops_early_stops_the_decoder():
    decoder = Counting()
    batches = Prefetched(decoder, np.array, depth=1).batches(_jobs([f"ok{k}" for k in range(400)]), 4, 8)
    first = next(batches)
    assert isinstance(first, Batch)
    batches.close()  # the model failed: the decoder must not keep working, or hang
    assert decoder.closed.wait(5)
    assert not _prefetch_threads()


def test_prefetched_rows_equal_the_rows_computed_in_step(image_files):
    paths = image_files(10)
    with ThreadPoolExecutor(2) as pool:
        plain = embed_many(paths, "tiny_test", None, views=("crop", "full"), cache=None, n_jobs=2)
        ahead = embed_many(
            paths,
            "tiny_test",
            None,
            views=("crop", "full"),
            cache=None,
            n_jobs=2,
            batch_size=4,
            decoder=Prefetched(ThreadDecoder(pool, lookahead=4), np.array, depth=2),
        )
    for a, b in zip(plain, ahead, strict=True):
        np.testing.assert_allclose(a.embeddings, b.embeddings, rtol=1e-5, atol=1e-6)


def test_a_decoder_that_fails_to_start_fails_the_call_instead_of_hanging():
    class Broken:
        id = "broken"

        def batches(self, jobs, size, step):
            raise RuntimeError("no device")

    with pytest.raises(RuntimeError, match="no device"):
        next(Prefetched(Broken(), np.array).batches(_jobs(["ok0"]), 4, 8))
    assert not _prefetch_threads()


def test_pillow_in_threads_or_processes_names_one_set_of_pixels_and_the_gpu_another():
    from skcatdog import _engine, config_context

    with config_context(decoder="threads"):
        threads = _engine.decoder_id("pillow")
    with config_context(decoder="processes"):
        processes = _engine.decoder_id("pillow")
    assert threads == processes == _engine.decoder_id("auto")  # no GPU here: "auto" is Pillow
    # The GPU decoder's views differ from Pillow's on a few photos: its rows are cached apart.
    assert _engine.decoder_id("gpu") != threads


def test_an_unknown_decoder_is_refused_by_name():
    from skcatdog import _engine

    with pytest.raises(ValueError, match="decoder must be one of .*'pillow'.*got 'threads'"):
        _engine.resolve_decoder("threads")
    with pytest.raises(ValueError, match="decoder must be one of .*got 'cuda'"):
        embed_many([np.zeros((8, 8, 3), np.uint8)], "tiny_test", None, cache=None, decoder="cuda")


def test_set_config_decoder_gpu_is_deprecated_for_the_parameter():
    from skcatdog import _engine, config_context, get_config, set_config

    with pytest.warns(FutureWarning, match="pass decoder='gpu' to the estimator"), config_context(decoder="gpu"):
        assert _engine.resolve_decoder("auto") == "gpu"  # while it lasts, it is what "auto" picks
        assert _engine.resolve_decoder("pillow") == "pillow"
    assert get_config()["decoder"] != "gpu"
    with pytest.raises(ValueError, match=r"decoder must be one of \('auto', 'threads', 'processes'\)"):
        set_config(decoder="cuda")
