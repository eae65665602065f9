"""The process-pool decoder: the thread decoder's pixels and rows, bad items named, a dying worker survived."""

import os
import time
from pathlib import Path

import numpy as np
import pytest

from skcatdog import ImageLoadError, config_context
from skcatdog._engine.decode import DecodeJob, ThreadDecoder
from skcatdog._engine.processes import ProcessDecoder
from skcatdog._images import read_source


def _decode_all(decoder, jobs, size=32, step=4):
    pixels, slots, bad = [], [], []
    for batch in decoder.batches(jobs, size, step):
        pixels.append(np.array(batch.pixels[: len(batch.slots)]))
        slots += batch.slots
        bad += batch.bad
    return np.concatenate(pixels) if pixels else None, slots, bad


def _jobs(paths, views=("crop", "full")):
    return [DecodeJob(f"k{i}", read_source(p), views) for i, p in enumerate(paths)]


def test_processes_give_the_thread_decoders_pixels(image_files):
    from concurrent.futures import ThreadPoolExecutor

    jobs = _jobs(image_files(7))
    with ThreadPoolExecutor(2) as pool:
        expected = _decode_all(ThreadDecoder(pool, 4), jobs)
    got = _decode_all(ProcessDecoder(workers=2), jobs)
    assert got[1] == expected[1] and got[2] == expected[2] == []
    np.testing.assert_array_equal(got[0], expected[0])


def test_transform_with_processes_gives_the_same_rows(image_files, tiny, forward_count):
    paths = image_files(6)
    expected = tiny(cache=None).transform(paths)
    with config_context(decoder="processes"):
        got = tiny(cache=None).transform(paths)
    np.testing.assert_array_equal(got, expected)


def test_bad_items_are_named_once_with_processes(image_files, tiny, tmp_path, isolated_cache):
    paths = image_files(3)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(Path(paths[0]).read_bytes()[:300])
    with config_context(decoder="processes"), pytest.raises(ImageLoadError) as info:
        tiny(cache=isolated_cache).transform([paths[1], str(truncated), paths[2]])
    assert [name for name, _ in info.value.problems] == [str(truncated)]


def test_an_unknown_decoder_setting_is_refused():
    with pytest.raises(ValueError, match="decoder must be one of"):
        config_context(decoder="gpu-please").__enter__()


class _DieOnce:
    """A source that kills the worker process unpickling it, the first time only."""

    def __init__(self, marker, source):
        self.marker, self.source = marker, source

    def __reduce__(self):
        return (_die_once, (self.marker, self.source))


def _die_once(marker, source):
    if not os.path.exists(marker):
        open(marker, "w").close()
        os._exit(9)
    return source


def test_a_worker_killed_while_decoding_is_replaced_and_its_jobs_decoded_again(image_files, tmp_path):
    paths = image_files(5)
    jobs = _jobs(paths)
    marker = str(tmp_path / "died")
    jobs[2] = DecodeJob(jobs[2].key, _DieOnce(marker, jobs[2].source), jobs[2].views)
    pixels, slots, bad = _decode_all(ProcessDecoder(workers=2), jobs)
    assert os.path.exists(marker) and bad == []
    assert slots == [(f"k{i}", v) for i in range(5) for v in ("crop", "full")]  # every view once, in order
    reference = _decode_all(ProcessDecoder(workers=2), _jobs(paths))[0]
    np.testing.assert_array_equal(pixels, reference)


@pytest.mark.parametrize("step, lookahead", [(1, None), (3, 1), (4, None), (7, 2), (64, None)])
def test_batches_match_the_thread_decoders_with_bad_items_and_uneven_views_anywhere(
    image_files, tmp_path, step, lookahead
):
    from concurrent.futures import ThreadPoolExecutor

    paths = image_files(11)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(Path(paths[0]).read_bytes()[:200])
    views = [("crop", "full"), ("crop",), ("full", "crop_mirror", "mirror")]
    items = paths[:3] + [str(truncated)] + paths[3:7] + [str(truncated), str(truncated)] + paths[7:]
    jobs = [DecodeJob(f"k{i}", read_source(p), views[i % 3]) for i, p in enumerate(items)]

    def everything(decoder):
        slots, bad, pixels = [], [], {}
        for batch in decoder.batches(jobs, 32, step):
            assert len(batch.slots) <= step
            time.sleep(0.02)  # a slow model: the workers run ahead, and must not write into this batch
            for j, slot in enumerate(batch.slots):
                pixels[slot] = np.array(batch.pixels[j])
            slots += batch.slots
            bad += batch.bad
        return slots, bad, pixels

    with ThreadPoolExecutor(2) as pool:
        expected = everything(ThreadDecoder(pool, 4))
    got = everything(ProcessDecoder(workers=2, lookahead=lookahead))
    assert got[0] == expected[0] and [k for k, _ in got[1]] == [k for k, _ in expected[1]] == ["k3", "k8", "k9"]
    for slot, px in expected[2].items():
        np.testing.assert_array_equal(got[2][slot], px, err_msg=str(slot))
