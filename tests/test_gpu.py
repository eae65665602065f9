"""GPU decoding: refused clearly without a GPU; on a GPU machine, bad items named and memory steady."""

from pathlib import Path

import numpy as np
import pytest

from skcatdog import ImageLoadError, config_context
from skcatdog._engine import gpu

needs_gpu = pytest.mark.skipif(
    not gpu.available(), reason="GPU decoding needs a CUDA device, torch and nvImageCodec (skcatdog[gpu])"
)


@pytest.mark.skipif(gpu.available(), reason="a GPU decoder is available here")
def test_asking_for_gpu_decoding_without_one_says_what_is_missing(image_files, tiny):
    with config_context(decoder="gpu"), pytest.raises(RuntimeError, match="CUDA device, torch and NVIDIA nvImageCodec"):
        tiny(cache=None).transform(image_files(2))


@needs_gpu
def test_gpu_rows_are_cached_apart_and_close_to_the_cpu_rows(image_files, tiny, isolated_cache, forward_count):
    paths = image_files(8)
    with config_context(decoder="threads"):
        cpu = tiny(cache=isolated_cache).transform(paths)
    with config_context(decoder="gpu"):
        on_gpu = tiny(cache=isolated_cache).transform(paths)
    assert forward_count() == 2 * 2 * 8  # its own rows: nothing reused from the CPU's
    np.testing.assert_allclose(on_gpu, cpu, atol=0.5)


@needs_gpu
def test_bad_items_in_a_gpu_batch_are_named_and_good_ones_kept(image_files, tiny, tmp_path, isolated_cache):
    from PIL import Image

    paths = image_files(4)
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(Path(paths[0]).read_bytes()[:300])
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    cmyk = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (40, 30), (10, 20, 30, 40)).save(cmyk)
    png16 = tmp_path / "deep.png"
    Image.fromarray(np.full((30, 40), 40000, np.uint16)).save(png16)
    items = [paths[1], str(truncated), str(cmyk), str(empty), paths[2], str(png16), paths[3]]
    with config_context(decoder="gpu"), pytest.raises(ImageLoadError) as info:
        tiny(cache=isolated_cache).transform(items)
    assert sorted(name for name, _ in info.value.problems) == sorted([str(truncated), str(empty)])
    with config_context(decoder="gpu"):
        tiny(cache=isolated_cache).transform([p for p in items if p not in (str(truncated), str(empty))])


@needs_gpu
def test_gpu_memory_does_not_grow_across_calls(image_files, tiny):
    import torch

    paths = image_files(16)
    with config_context(decoder="gpu"):
        tiny(cache=None).transform(paths)
        torch.cuda.synchronize()
        before = torch.cuda.memory_allocated()
        for _ in range(20):
            tiny(cache=None).transform(paths)
        torch.cuda.synchronize()
    assert torch.cuda.memory_allocated() <= before
