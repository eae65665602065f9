"""The one image loader: formats, colour modes, EXIF, views and every kind of bad input."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from skcatdog import ImageLoadError
from skcatdog._images import BadImage, Source, _digest_bytes, as_items, decode, read_source
from tests._helpers import tiny_transformer


def _source(path):
    return read_source(str(path))


def _gradient(w=48, h=32):
    x = np.linspace(0, 255, w, dtype=np.uint8)
    y = np.linspace(0, 255, h, dtype=np.uint8)
    return np.stack([np.tile(x, (h, 1)), np.tile(y[:, None], (1, w)), np.full((h, w), 90, np.uint8)], axis=-1)


@pytest.mark.parametrize(
    "fmt,suffix", [("PNG", ".png"), ("WEBP", ".webp"), ("BMP", ".bmp"), ("JPEG", ".jpg"), ("TIFF", ".tif")]
)
def test_formats_decode_to_rgb(tmp_path, fmt, suffix):
    p = tmp_path / f"img{suffix}"
    kwargs = {"lossless": True} if fmt == "WEBP" else {}
    Image.fromarray(_gradient()).save(p, fmt, **kwargs)
    out = decode(_source(p), 16)
    assert out.shape == (16, 16, 3) and out.dtype == np.uint8
    expected = np.asarray(Image.fromarray(_gradient()).resize((16, 16), Image.BILINEAR))
    tolerance = 20 if fmt == "JPEG" else 0
    assert np.abs(out.astype(int) - expected).max() <= tolerance


def test_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (20, 20), c) for c in [(255, 0, 0), (0, 0, 255)]]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:])
    out = decode(_source(p), 8)
    assert out[..., 0].min() > 200 and out[..., 2].max() < 50  # red, the first frame


@pytest.mark.parametrize(
    "mode,expected",
    [
        ("L", (100, 100, 100)),
        ("RGBA", (255, 255, 255)),  # fully transparent: white background
        ("LA", (255, 255, 255)),
        ("CMYK", (255, 255, 255)),  # no ink
        ("P", (100, 100, 100)),
    ],
)
def test_colour_modes_become_rgb(tmp_path, mode, expected):
    if mode == "L":
        img = Image.new("L", (10, 10), 100)
    elif mode == "RGBA":
        img = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    elif mode == "LA":
        img = Image.new("LA", (10, 10), (0, 0))
    elif mode == "CMYK":
        img = Image.new("CMYK", (10, 10), (0, 0, 0, 0))
    else:
        img = Image.new("L", (10, 10), 100).convert("P")
    p = tmp_path / ("img.tif" if mode == "CMYK" else "img.png")
    img.save(p)
    out = decode(_source(p), 4)
    assert out.shape == (4, 4, 3)
    assert tuple(out[0, 0]) == expected


def test_16_bit_png_is_scaled_not_clipped(tmp_path):
    arr = np.full((10, 10), 32896, dtype=np.uint16)  # 128 * 257: mid grey
    p = tmp_path / "deep.png"
    Image.fromarray(arr).save(p)
    assert Image.open(p).mode.startswith("I")
    out = decode(_source(p), 4)
    assert tuple(out[0, 0]) == (128, 128, 128)


def test_exif_orientation_is_applied(tmp_path):
    arr = np.zeros((20, 40, 3), np.uint8)
    arr[:, :20] = 255  # left half white
    img = Image.fromarray(arr)
    exif = img.getexif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    p = tmp_path / "rotated.jpg"
    img.save(p, exif=exif, quality=95)
    out = decode(_source(p), 20)
    # Displayed upright, the white half is on top.
    assert out[:8].mean() > 200 and out[-8:].mean() < 50


def test_mirror_view_flips_left_right():
    arr = _gradient()
    src = read_source(arr)
    assert np.array_equal(decode(src, 16, "mirror"), decode(src, 16, "full")[:, ::-1])


def test_array_and_file_digests_differ_by_content_not_name(tmp_path):
    a = tmp_path / "a.png"
    b = tmp_path / "b.png"
    Image.fromarray(_gradient()).save(a)
    b.write_bytes(a.read_bytes())
    assert read_source(str(a)).digest == read_source(str(b)).digest
    assert read_source(_gradient()).digest != read_source(_gradient()[::-1].copy()).digest


def _truncated_jpeg(path):
    buf = io.BytesIO()
    Image.fromarray(_gradient(200, 200)).save(buf, "JPEG")
    path.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])


def _bomb_png(path, side=20000):
    # A valid 1x1 grey PNG whose header claims side x side pixels.
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    idat = zlib.compress(b"\x00\x80")
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.fixture
def bad_inputs(tmp_path):
    good = tmp_path / "good.jpg"
    Image.fromarray(_gradient()).save(good)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    text = tmp_path / "notes.jpg"
    text.write_text("these are not pixels")
    truncated = tmp_path / "truncated.jpg"
    _truncated_jpeg(truncated)
    bomb = tmp_path / "bomb.png"
    _bomb_png(bomb)
    return {
        "good": str(good),
        "missing": str(tmp_path / "missing.jpg"),
        "empty": str(empty),
        "text": str(text),
        "truncated": str(truncated),
        "bomb": str(bomb),
        "directory": str(tmp_path),
    }


@pytest.mark.parametrize(
    "name,reason",
    [
        ("missing", "no such file"),
        ("empty", "empty"),
        ("text", "not an image"),
        ("truncated", "truncated"),
        ("bomb", "decompression bomb"),
        ("directory", "directory"),
    ],
)
def test_each_bad_file_is_named_with_its_reason(bad_inputs, name, reason, forward_count):
    est = tiny_transformer(views="crop")
    with pytest.raises(ImageLoadError) as info:
        est.transform([bad_inputs["good"], bad_inputs[name]])
    assert isinstance(info.value, ValueError)
    assert info.value.problems == [(bad_inputs[name], info.value.problems[0][1])]
    assert reason in info.value.problems[0][1]
    assert bad_inputs[name] in str(info.value)


def test_every_bad_item_is_named_and_nothing_is_cached_for_them(bad_inputs, forward_count, isolated_cache):
    from skcatdog._store import local_store as open_store

    names = ["missing", "empty", "text", "truncated", "bomb"]
    est = tiny_transformer(views="crop")
    with pytest.raises(ImageLoadError) as info:
        est.transform([bad_inputs["good"]] + [bad_inputs[n] for n in names])
    assert [p for p, _ in info.value.problems] == [bad_inputs[n] for n in names]
    # Every problem here is found while the files are read, before the first forward pass: the call
    # stops there, so nothing is cached (not even the good image) and the rerun computes it once.
    assert len(open_store(isolated_cache)) == 0
    forward_before = forward_count()
    est.transform([bad_inputs["good"]])
    assert forward_count() - forward_before == 1


def test_truncated_file_found_while_computing_leaves_good_rows_cached(
    bad_inputs, image_files, forward_count, isolated_cache
):
    from skcatdog._store import local_store as open_store

    good = image_files(5)
    est = tiny_transformer(views="crop")
    with pytest.raises(ImageLoadError, match="truncated"):
        est.transform(good + [bad_inputs["truncated"]])
    assert len(open_store(isolated_cache)) == 5
    before = forward_count()
    est.transform(good)
    assert forward_count() == before


@pytest.mark.parametrize(
    "array,reason",
    [
        (np.zeros((8, 8, 3), np.float32), "dtype"),
        (np.zeros((8, 8), np.uint8), "shape"),
        (np.zeros((8, 8, 4), np.uint8), "shape"),
        (np.zeros((0, 8, 3), np.uint8), "no pixels"),
    ],
)
def test_bad_arrays_are_named_by_position(array, reason):
    est = tiny_transformer(views="crop")
    good = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ImageLoadError) as info:
        est.transform([good, array])
    ((name, why),) = info.value.problems
    assert name == "X[1] (array)" and reason in why


def test_file_changed_after_digest_is_refused(tmp_path):
    p = tmp_path / "a.png"
    Image.fromarray(_gradient()).save(p)
    src = read_source(str(p))
    src.data = None  # as the engine does for a miss: decode re-reads the file
    Image.fromarray(_gradient()[::-1].copy()).save(p)
    with pytest.raises(BadImage, match="changed"):
        decode(src, 8)
    assert Source(_digest_bytes(p.read_bytes()), path=str(p)).digest != src.digest


@pytest.mark.parametrize(
    "X,message",
    [
        ("one/path.jpg", "single path"),
        ([], "no images"),
        (np.zeros((3, 4)), "dtype float64"),
        (np.zeros((2, 8, 8, 3), np.uint8), None),
        (np.array([["a.jpg"], ["b.jpg"]], dtype=object), None),
    ],
)
def test_as_items_shapes(X, message):
    if message is None:
        assert len(as_items(X)) == 2
    else:
        with pytest.raises(ValueError, match=message):
            as_items(X)


def test_pandas_inputs():
    pd = pytest.importorskip("pandas")
    assert as_items(pd.Series(["a.jpg", "b.jpg"])) == ["a.jpg", "b.jpg"]
    assert as_items(pd.DataFrame({"path": ["a.jpg"]})) == ["a.jpg"]
    with pytest.raises(ValueError, match="2 columns"):
        as_items(pd.DataFrame({"a": ["x"], "b": ["y"]}))


def test_byte_string_paths_become_str():
    assert as_items([b"a.jpg", "b.jpg"]) == ["a.jpg", "b.jpg"]
    items = as_items(list(np.array([b"a.jpg", b"b.jpg"])))  # numpy's bytes_, a subclass of bytes
    assert items == ["a.jpg", "b.jpg"] and all(type(i) is str for i in items)


def test_the_error_pickles_for_joblib_workers():
    import pickle

    err = pickle.loads(pickle.dumps(ImageLoadError([("a.jpg", "no such file")])))
    assert err.problems == [("a.jpg", "no such file")] and "a.jpg: no such file" in str(err)


@pytest.mark.parametrize("suffix", [".png", ".jpg"])
def test_crop_view_is_the_central_square_of_the_shorter_side(tmp_path, suffix):
    # 160x80 photo: the crop is the central 70x70 square (87.5% of 80), 45 pixels in from each side.
    arr = np.zeros((80, 160, 3), np.uint8)
    arr[:, :45] = (250, 0, 0)  # cut off on the left ...
    arr[:, 115:] = (0, 0, 250)  # ... and on the right
    arr[:, 45:115] = (0, 200, 0)
    p = tmp_path / f"wide{suffix}"
    Image.fromarray(arr).save(p, quality=95)
    crop = decode(read_source(str(p)), 32, "crop").astype(int)
    inner = crop[:, 2:-2]  # the outermost columns may blend in one boundary pixel (JPEG, DCT-scaled decode)
    assert (inner[..., 1] > 150).all() and (inner[..., 0] < 60).all() and (inner[..., 2] < 60).all()
    assert crop[..., 0].mean() < 30 and crop[..., 2].mean() < 30
    full = decode(read_source(str(p)), 32, "full").astype(int)
    assert (full[:, :4, 0] > 200).all() and (full[:, -4:, 2] > 200).all()  # squashed: nothing cut off
    np.testing.assert_array_equal(decode(read_source(str(p)), 32, "crop_mirror").astype(int), crop[:, ::-1])


def test_crop_view_of_a_tall_image_keeps_the_middle_rows(tmp_path):
    arr = np.zeros((200, 100, 3), np.uint8)
    arr[:56] = 255  # the crop is 87.5 rows tall ... 56 rows above it go
    p = tmp_path / "tall.png"
    Image.fromarray(arr).save(p)
    crop = decode(read_source(str(p)), 16, "crop")
    assert crop.max() < 40  # none of the white band leaks into the crop


# --- special files, the size cap, one decode for every view ---------------------------------------


def _embed_within(items, seconds):
    """Transform in a thread; fail (instead of hanging the suite) if it takes longer than ``seconds``."""
    import concurrent.futures

    est = tiny_transformer(views="crop", cache=None)
    from tests._helpers import random_images

    est.transform(random_images(1))  # import TensorFlow and build the model outside the time limit
    pool = concurrent.futures.ThreadPoolExecutor(1)
    future = pool.submit(est.transform, items)
    try:
        return future.exception(timeout=seconds)
    finally:
        pool.shutdown(wait=False)


def test_fifo_and_devices_are_bad_items_found_without_blocking(tmp_path, image_files):
    import os
    import socket

    from skcatdog import ImageLoadError

    fifo = tmp_path / "pipe.jpg"
    os.mkfifo(fifo)  # opening it for reading would block until a writer came
    sock_path = tmp_path / "sock.jpg"
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(sock_path))
    good = image_files(1)[0]
    try:
        exc = _embed_within([good, str(fifo), "/dev/zero", str(sock_path)], seconds=1)
    finally:
        sock.close()
    assert isinstance(exc, ImageLoadError)
    assert exc.problems == [
        (str(fifo), "is a named pipe (FIFO), not a regular file"),
        ("/dev/zero", "is a character device, not a regular file"),
        (str(sock_path), "is a socket, not a regular file"),
    ]


def test_a_fifo_swapped_in_after_the_stat_does_not_block(tmp_path):
    import os

    from skcatdog._images import BadImage, read_file

    fifo = tmp_path / "late.jpg"
    os.mkfifo(fifo)
    with pytest.raises(BadImage, match="named pipe"):
        read_file(str(fifo))  # opened non-blocking, refused on the descriptor


def test_files_over_the_size_cap_are_refused_before_reading(image_files, monkeypatch):
    import os

    from skcatdog import ImageLoadError, _images, config_context

    paths = image_files(2)
    opened = []
    real_read = _images.read_file
    monkeypatch.setattr(_images, "read_file", lambda path: opened.append(path) or real_read(path))
    small = min(os.path.getsize(p) for p in paths)
    with config_context(max_file_bytes=small - 1):
        exc = _embed_within(paths, seconds=30)
    assert isinstance(exc, ImageLoadError) and len(exc.problems) == 2
    assert all("over the limit" in reason and "max_file_bytes" in reason for _, reason in exc.problems)
    assert opened == []


def test_a_lowered_size_cap_refuses_files_this_process_has_memoised(old_files, image_files, isolated_cache):
    import os

    from skcatdog import config_context
    from skcatdog._store import memory

    paths = image_files(3)
    est = tiny_transformer(views="crop", cache=isolated_cache)
    est.transform(paths)
    assert len(memory.digests) >= 3  # a repeated call would not read the files again
    with config_context(max_file_bytes=min(os.path.getsize(p) for p in paths) - 1):
        with pytest.raises(ImageLoadError, match="max_file_bytes"):
            est.transform(paths)  # as a new process would refuse them


def _jpeg(tmp_path, size, name="photo.jpg"):
    from PIL import Image

    rng = np.random.default_rng(1)
    arr = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    path = tmp_path / name
    Image.fromarray(arr).save(path, "JPEG", quality=90)
    return str(path)


@pytest.mark.parametrize("size", [(400, 272), (60, 50), (1200, 900)])
def test_decode_views_gives_each_views_own_pixels(tmp_path, monkeypatch, size):
    from skcatdog import _images
    from skcatdog._images import VIEWS, decode, decode_views, read_source

    src = read_source(_jpeg(tmp_path, size))
    alone = {view: decode(src, 32, view) for view in VIEWS}
    loads = []
    original = _images._load
    monkeypatch.setattr(_images, "_load", lambda *a: loads.append(a[2]) or original(*a))
    together = decode_views(src, 32, VIEWS)
    for view in VIEWS:
        np.testing.assert_array_equal(together[view], alone[view])
    # 400x272 at 32 px: the whole photo decodes at 1/8 scale, the crop needs 1/4 (two decodes);
    # otherwise one decode serves all four views.
    assert len(loads) == (2 if size == (400, 272) else 1)


def test_each_photo_is_decoded_once_for_all_views(image_files, monkeypatch):
    from skcatdog import _images

    paths = image_files(4)
    loads = []
    original = _images._load
    monkeypatch.setattr(_images, "_load", lambda *a: loads.append(1) or original(*a))
    est = tiny_transformer(views=_images.VIEWS, cache=None)
    est.transform(paths)
    assert len(loads) == 4


def test_the_decoder_name_says_which_pass_order_pillow_resizes_in():
    from PIL import __version__ as pillow_version

    from skcatdog import _images

    reorders = int(pillow_version.split(".")[0]) >= 13  # Pillow 13 runs some resizes vertically first
    assert _images.RESIZES_VERTICALLY_FIRST == reorders
    assert _images.DECODER_ID.endswith("+hfirst") == (not reorders)
