"""GPU decoding: refused clearly without a GPU; on a GPU machine, bad items named and memory steady."""

from pathlib import Path

import numpy as np
import pytest

from skcatdog import ImageLoadError, config_context
from skcatdog._engine import gpu
from skcatdog._engine.decode import DecodeJob, ThreadDecoder
from skcatdog._images import decode_views, read_source

from ._helpers import TRAIN, needs_shared

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
def test_bad_items_in_a_gpu_batch_are_named_and_good_ones_kept(image_files, tiny, odd_files, isolated_cache):
    paths = image_files(4)
    truncated, empty, cmyk, png16 = (odd_files[k] for k in ("truncated", "empty", "cmyk", "png16"))
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


class PillowCodec:
    """A host stand-in for nvImageCodec: full-size Pillow decode, EXIF applied, as NumPy arrays.

    It runs the GPU decoder's own code (the plan, the block reduction, the batched
    resize, the fallback and the batching) on a machine without a GPU."""

    def __init__(self, refuse=()):
        import array_api_compat.numpy

        self.xp, self.device, self.id = array_api_compat.numpy, "cpu", "pillow-test"
        self.refuse = set(refuse)
        self.calls = 0

    def decode(self, encoded):
        import io

        from PIL import Image, ImageOps

        self.calls += 1
        out = []
        for data in encoded:
            if data in self.refuse:
                out.append(None)
                continue
            img = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
            out.append(np.asarray(img.convert("RGB")))
        return out


def _views_by_decoder(decoder, paths, size, views, step=8):
    jobs = [DecodeJob(str(k), read_source(p), tuple(views)) for k, p in enumerate(paths)]
    got, bad = {}, []
    for batch in decoder.batches(jobs, size, step):
        assert batch.pixels.shape == (step, size, size, 3)  # one shape: no retracing
        bad.extend(batch.bad)
        for j, slot in enumerate(batch.slots):
            assert slot not in got
            got[slot] = np.array(batch.pixels[j])
    return got, bad


def _gpu_decoder(pool, codec=None, photos_per_decode=5):
    return gpu.GPUDecoder(
        ThreadDecoder(pool, lookahead=4), codec=codec or PillowCodec(), photos_per_decode=photos_per_decode, pool=pool
    )


def _pillow_views(path, size, views):
    return decode_views(read_source(path), size, views)


@pytest.mark.parametrize("size", [64, 96])
def test_views_of_photos_under_twice_the_size_are_pillows_to_the_bit(image_files, size):
    from concurrent.futures import ThreadPoolExecutor

    views = ("crop", "crop_mirror", "full", "mirror")
    paths = image_files(11)
    with ThreadPoolExecutor(2) as pool:
        got, bad = _views_by_decoder(_gpu_decoder(pool), paths, size, views)
    assert not bad
    assert len(got) == 11 * 4
    for k, path in enumerate(paths):
        expected = _pillow_views(path, size, views)
        for view in views:
            np.testing.assert_array_equal(got[str(k), view], expected[view], err_msg=f"{path} {view}")


@needs_shared
def test_real_photos_views_are_pillows_to_the_bit_and_large_ones_close():
    from concurrent.futures import ThreadPoolExecutor

    paths = sorted(str(p) for p in TRAIN.rglob("*.jpg"))[:40]
    with ThreadPoolExecutor(2) as pool:
        # At 260 no photo here is reduced; at 224 and 64 many are, by 2 or 4, before the resize.
        for size, exact in ((260, True), (224, False), (64, False)):
            got, bad = _views_by_decoder(_gpu_decoder(pool, photos_per_decode=16), paths, size, ("crop", "full"))
            assert not bad
            diffs = []
            for k, path in enumerate(paths):
                expected = _pillow_views(path, size, ("crop", "full"))
                for view in ("crop", "full"):
                    if exact:
                        np.testing.assert_array_equal(got[str(k), view], expected[view], err_msg=path)
                    diffs.append(np.abs(got[str(k), view].astype(int) - expected[view]).mean())
            assert np.mean(diffs) < (1e-9 if exact else 1.0), np.mean(diffs)


def test_what_the_codec_cannot_take_goes_to_pillow_and_bad_items_are_named(image_files, odd_files):
    from concurrent.futures import ThreadPoolExecutor

    paths = image_files(4)
    truncated, not_an_image, cmyk, png16, progressive = (
        odd_files[k] for k in ("truncated", "not_an_image", "cmyk", "png16", "progressive")
    )
    refused = Path(paths[3]).read_bytes()
    items = [paths[1], str(truncated), str(cmyk), str(not_an_image), paths[2], str(png16), str(progressive), paths[3]]
    codec = PillowCodec(refuse=[refused])
    with ThreadPoolExecutor(2) as pool:
        got, bad = _views_by_decoder(_gpu_decoder(pool, codec), items, 64, ("crop",), step=4)
    assert sorted(k for k, _ in bad) == ["1", "3"]
    assert all("truncated" in reason or "image" in reason for _, reason in bad)
    assert sorted(k for k, _ in got) == ["0", "2", "4", "5", "6", "7"]
    for k in (0, 2, 4, 5, 6, 7):
        np.testing.assert_array_equal(got[str(k), "crop"], _pillow_views(items[k], 64, ("crop",))["crop"])
    assert codec.calls == 2  # photos_per_decode=5: two chunks


def test_the_torch_path_gives_pillows_views(image_files):
    """The codec's arrays as torch tensors (on the CPU here): the namespace the GPU runs on."""
    torch = pytest.importorskip("torch", reason="torch is not installed (it comes with skcatdog[gpu])")
    from concurrent.futures import ThreadPoolExecutor

    import array_api_compat

    class TorchCodec(PillowCodec):
        def __init__(self):
            super().__init__()
            self.xp, self.device = array_api_compat.array_namespace(torch.empty(0)), torch.device("cpu")

        def decode(self, encoded):
            return [torch.from_dlpack(np.ascontiguousarray(a)) for a in super().decode(encoded)]

    paths = image_files(6)
    with ThreadPoolExecutor(2) as pool:
        got, bad = _views_by_decoder(_gpu_decoder(pool, TorchCodec()), paths, 64, ("crop", "mirror"))
    assert not bad
    for k, path in enumerate(paths):
        expected = _pillow_views(path, 64, ("crop", "mirror"))
        for view in ("crop", "mirror"):
            np.testing.assert_array_equal(got[str(k), view], expected[view])


def test_a_call_through_the_gpu_decoder_names_every_bad_item_once_and_keeps_its_own_rows(
    image_files, odd_files, tmp_path, isolated_cache, forward_count, monkeypatch
):
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    from skcatdog import _images
    from skcatdog._engine import embed_many

    paths = image_files(5)
    truncated, empty = odd_files["truncated"], odd_files["empty"]
    bomb = tmp_path / "bomb.jpg"
    Image.new("RGB", (60, 50), (1, 2, 3)).save(bomb)  # over the limit set below
    png = tmp_path / "plain.png"
    Image.fromarray(np.full((30, 40, 3), 7, np.uint8)).save(png)
    monkeypatch.setattr(_images, "MAX_PIXELS", 2_000)
    bad = [str(truncated), str(empty), str(bomb)]
    items = [paths[1], bad[0], paths[2], bad[1], str(png), bad[2], paths[3]]
    with ThreadPoolExecutor(2) as pool:

        def call(items):
            decoder = _gpu_decoder(pool, photos_per_decode=3)
            return embed_many(items, "tiny_test", None, views=("crop", "mirror"), cache=isolated_cache, decoder=decoder)

        with pytest.raises(ImageLoadError) as info:
            call(items)
        named = [name for name, _ in info.value.problems]
        assert sorted(named) == sorted(bad)  # each once, and no good item
        assert "decompression bomb" in dict(info.value.problems)[str(bomb)]
        good = [p for p in items if p not in bad]
        rows = call(good)
        forwarded = forward_count()
        call(good)
        assert forward_count() == forwarded  # stored under the GPU decoder's name, found again
    with config_context(decoder="threads"):
        cpu = embed_many(good, "tiny_test", None, views=("crop", "mirror"), cache=None)
    for gpu_rows, cpu_rows in zip(rows, cpu, strict=True):  # photos under twice the size: Pillow's pixels
        np.testing.assert_allclose(gpu_rows.embeddings, cpu_rows.embeddings, rtol=1e-6, atol=1e-6)


def test_large_photos_go_to_the_codec_a_few_at_a_time(image_files, monkeypatch):
    from concurrent.futures import ThreadPoolExecutor

    monkeypatch.setattr(gpu, "_DECODE_PIXELS", 2_500)  # two of these 40 x 30 photos per codec call
    paths = image_files(7)
    codec = PillowCodec()
    with ThreadPoolExecutor(2) as pool:
        got, bad = _views_by_decoder(_gpu_decoder(pool, codec, photos_per_decode=256), paths, 32, ("crop",))
    assert codec.calls == 4 and not bad
    for k, path in enumerate(paths):
        np.testing.assert_array_equal(got[str(k), "crop"], _pillow_views(path, 32, ("crop",))["crop"])
