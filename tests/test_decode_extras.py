"""A job's extras ride along its decode, whichever decoder runs it: one value per good photo, none for a bad one."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from skcatdog._engine import gpu
from skcatdog._engine.decode import DecodeJob, Prefetched, ThreadDecoder
from skcatdog._engine.processes import ProcessDecoder
from skcatdog._images import read_source


def mean_of_full(source, pixels):
    """An extra: the full view's mean (module level, so worker processes can run it)."""
    return float(pixels["full"].mean())


class HostCodec:
    """A codec on the host that must not be asked for photos with extras."""

    def __init__(self):
        import array_api_compat.numpy

        self.xp, self.device, self.id = array_api_compat.numpy, "cpu", "host-test"
        self.calls = 0

    def decode(self, encoded):
        self.calls += 1
        raise AssertionError("a photo with extras went to the codec")


def _jobs(paths):
    jobs = [DecodeJob(f"k{i}", read_source(p), ("crop",), mean_of_full, ("full",)) for i, p in enumerate(paths)]
    bad_source = read_source(paths[0])
    bad_source.data = b"\xff\xd8\xff not really a jpeg"
    jobs.insert(2, DecodeJob("bad", bad_source, ("crop",), mean_of_full, ("full",)))
    return jobs


@pytest.mark.parametrize("kind", ["threads", "processes", "prefetched", "gpu"])
def test_every_decoder_returns_one_extra_per_good_photo(image_files, kind):
    from skcatdog._images import decode_views

    paths = image_files(9)
    jobs = _jobs(paths)
    with ThreadPoolExecutor(2) as pool:
        decoder = {
            "threads": lambda: ThreadDecoder(pool, 4),
            "processes": lambda: ProcessDecoder(workers=2),
            "prefetched": lambda: Prefetched(ThreadDecoder(pool, 4), np.array),
            "gpu": lambda: gpu.GPUDecoder(ThreadDecoder(pool, 4), codec=HostCodec(), pool=pool),
        }[kind]()
        extras, bad, slots = {}, [], []
        for batch in decoder.batches(jobs, 32, 4):
            bad += [key for key, _ in batch.bad]
            slots += batch.slots
            for key, value in batch.extras:
                assert key not in extras
                extras[key] = value
    assert bad == ["bad"]
    assert slots == [(f"k{i}", "crop") for i in range(9)]  # the extra's view is not forwarded
    expected = {f"k{i}": float(decode_views(read_source(p), 32, ("full",))["full"].mean()) for i, p in enumerate(paths)}
    assert extras == expected
