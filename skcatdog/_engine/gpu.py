"""A decoder for GPU machines: JPEGs decoded on the device, every view cut and
resized there in a few batched operations, and the batch handed to the model
without a trip through host memory.

The decoding itself is a :class:`Codec`'s; the default one is NVIDIA
nvImageCodec (the GPU's hardware JPEG engine where it has one, libjpeg's
chroma upsampling so the pixels are Pillow's). Everything after it is written
against the array API, so the same code runs on torch's CUDA tensors and, in
the tests, on NumPy:

1. a photo the CPU decoder would decode at a reduced DCT scale (one more than
   twice the model's input a side) is reduced by that factor, averaging
   blocks of pixels, which is what the DCT scaling approximates;
2. each distinct view box (a mirror shares its view's box) is cut into a
   padded batch and resized by :func:`~skcatdog._engine.resample.resize_batch`,
   Pillow's bilinear filter to the bit in float64;
3. mirrors are flipped, and rows are gathered into fixed-shape batches.

What it does not take (PNG and other formats, CMYK, crops of a file, arrays,
data the codec fails on, files that do not end as a JPEG ends) goes to the CPU
decoder item by item, with the CPU decoder's verdict: a bad item is named in
the call's one :class:`~skcatdog.ImageLoadError` and nothing is stored for it.

Its rows carry their own fingerprint (:attr:`GPUDecoder.id`): for photos
under twice the input size its views are Pillow's, but larger ones are
reduced by block averages rather than libjpeg's scaled IDCT.
"""

from __future__ import annotations

import functools
import threading
import time
from typing import Protocol

import numpy as np

from .. import _images
from .._images import BadImage
from .decode import Batch
from .resample import groups_within, padded_shape, resize_batch
from .runner import gpu_available
from .stats import stats

__all__ = ["Codec", "GPUDecoder", "NvImageCodec", "available", "default_id", "shared_codec"]

_JPEG_START, _JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"
_RESIZE_ID = "blockmean-pil-bilinear-exact/1"
# Pixels of one padded resize batch: about 1.5 GB of float64 planes at the most.
_PIXEL_BUDGET = 1 << 26
# Stored pixels decoded by one codec call: about 0.8 GB of RGB images.
_DECODE_PIXELS = 1 << 28


class Codec(Protocol):
    """Decodes JPEG bytes on a device.

    Attributes
    ----------
    id : str
        Names the codec and its version (part of the rows' fingerprint).
    xp : array namespace
        Of the arrays :meth:`decode` returns.
    device : object
        Where they are.
    """

    id: str
    xp: object
    device: object

    def decode(self, encoded):
        """One ``(height, width, 3)`` uint8 RGB array per item of ``encoded`` (a list of
        bytes), EXIF orientation applied, or ``None`` for an item it could not decode."""


@functools.lru_cache(maxsize=1)
def _modules():
    """``(nvimgcodec, torch)``, or ``None`` if either is missing or no CUDA device is visible."""
    try:
        import torch
        from nvidia import nvimgcodec
    except ImportError:
        return None
    if not torch.cuda.is_available():
        return None
    return nvimgcodec, torch


def available():
    """Whether nvImageCodec, torch and a CUDA device are all here (``pip install "skcatdog[gpu]"``)."""
    return _modules() is not None


def _codec_version():
    mods = _modules()
    if mods is None:
        return "absent"
    nvimgcodec, torch = mods
    return f"{getattr(nvimgcodec, '__version__', '?')}+torch{torch.__version__.split('+')[0]}"


def default_id():
    """The fingerprint of rows made by :class:`GPUDecoder` with its default codec."""
    return f"nvimgcodec-fancy/{_codec_version()}+{_RESIZE_ID}"


class NvImageCodec:
    """NVIDIA nvImageCodec on the current CUDA device, its arrays as torch tensors."""

    def __init__(self):
        if not available():
            raise RuntimeError(
                "GPU decoding needs a CUDA device, torch and NVIDIA nvImageCodec: pip install 'skcatdog[gpu]'"
            )
        import array_api_compat

        nvimgcodec, torch = _modules()
        self.torch = torch
        self.device = torch.device("cuda", torch.cuda.current_device())
        self.xp = array_api_compat.array_namespace(torch.empty(0))
        kinds = nvimgcodec.BackendKind
        # The hardware engine first (it leaves the compute cores to the model), then CUDA.
        order = (getattr(kinds, "HW_GPU_ONLY", None), kinds.GPU_ONLY, kinds.HYBRID_CPU_GPU)
        # Fancy upsampling: the chroma upsampling libjpeg (so Pillow) does.
        self.codec = nvimgcodec.Decoder(
            backends=[nvimgcodec.Backend(k) for k in order if k is not None], options=":fancy_upsampling=1"
        )
        self.params = nvimgcodec.DecodeParams(apply_exif_orientation=True, color_spec=nvimgcodec.ColorSpec.RGB)
        self.id = f"nvimgcodec-fancy/{_codec_version()}"
        self._lock = threading.Lock()  # one decode at a time: calls from several threads share it

    def decode(self, encoded):
        with self._lock:
            images = self.codec.decode(encoded, params=self.params)
        return [None if image is None else self.torch.from_dlpack(image) for image in images]


@functools.lru_cache(maxsize=1)
def shared_codec():
    """The process's one :class:`NvImageCodec`: a decoder's set-up (and its device
    memory) is paid once, not per call."""
    return NvImageCodec()


def _to_backend(pixels):
    """Device pixels as the Keras backend's own array, on the same device, without a copy."""
    import keras

    backend = keras.backend.backend()
    if isinstance(pixels, np.ndarray):  # a codec on the host (the tests')
        return pixels
    if not gpu_available():  # decoder="gpu" asked for, but the model runs on the CPU
        import array_api_compat

        return np.from_dlpack(array_api_compat.to_device(pixels, "cpu"))
    if backend == "torch":
        import torch

        return torch.from_dlpack(pixels)
    if backend == "jax":
        import jax

        return jax.dlpack.from_dlpack(pixels)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.experimental.dlpack.from_dlpack(pixels.__dlpack__())
    raise RuntimeError(f"GPU decoding does not know the Keras backend {backend!r}")


def _within_pixels(planned, budget):
    """``planned`` (job, plan) pairs in runs whose stored pixels add up to at most ``budget``."""
    run, total = [], 0
    for item in planned:
        pixels = item[1][1]
        if run and total + pixels > budget:
            yield run
            run, total = [], 0
        run.append(item)
        total += pixels
    if run:
        yield run


def _base(view):
    """The view whose box ``view`` uses (a mirror flips its view's pixels)."""
    return {"crop_mirror": "crop", "mirror": "full"}.get(view, view)


class GPUDecoder:
    """A :class:`Codec` and batched resizes on its device, a CPU decoder for the rest.

    Parameters
    ----------
    fallback : Decoder
        Decodes what the codec does not take (see the module's notes).
    codec : Codec, optional
        Default: the process's :func:`shared_codec`.
    photos_per_decode : int, default=256
        Photos sent to the codec at once (fewer when they are large).
    pool : concurrent.futures.Executor, optional
        Threads that read the files and their headers.
    """

    def __init__(self, fallback, codec=None, photos_per_decode=256, pool=None):
        self.codec = shared_codec() if codec is None else codec
        self.fallback = fallback
        self.pool = pool
        self.photos_per_decode = photos_per_decode
        self.xp, self.device = self.codec.xp, self.codec.device
        self.id = f"{self.codec.id}+{_RESIZE_ID}"

    def _plan(self, job, size):
        """``(bytes, stored pixels, DCT scale by base view)`` if the codec should decode the job,
        ``None`` if the CPU decoder should, or the :class:`BadImage` that rules it out."""
        source = job.source
        if source.array is not None or source.box is not None or source.path is None or job.extra is not None:
            return None  # the CPU decoder takes it (and computes a job's extras in the same decode)
        try:
            data = _images.source_bytes(source)  # re-read and checked against the digest
            if not data.startswith(_JPEG_START) or not data.rstrip(b"\0").endswith(_JPEG_END):
                return None  # not a JPEG, or truncated: Pillow decides
            kind, mode, stored = source.header or _images.header(data)  # the probe's, if it read it
        except BadImage as exc:
            return exc
        if kind != "JPEG" or mode not in ("RGB", "L"):  # CMYK, YCCK: Pillow converts them
            return None
        scales = {_base(v): _images.dct_scale(stored, None, size, _base(v)) for v in job.views}
        return data, stored[0] * stored[1], scales

    def _reduce(self, image, factor):
        """``image`` averaged over ``factor`` x ``factor`` blocks (partial blocks at the edges too)."""
        xp = self.xp
        if factor == 1:
            return image
        height, width = image.shape[0], image.shape[1]
        out_h, out_w = -(-height // factor), -(-width // factor)
        padded = xp.zeros((out_h * factor, out_w * factor, 3), dtype=xp.float64, device=self.device)
        padded[:height, :width, :] = xp.astype(image, xp.float64)
        sums = xp.sum(xp.reshape(padded, (out_h, factor, out_w, factor, 3)), axis=(1, 3))
        rows = xp.clip(xp.asarray([height - i * factor for i in range(out_h)], device=self.device), 0, factor)
        cols = xp.clip(xp.asarray([width - j * factor for j in range(out_w)], device=self.device), 0, factor)
        counts = xp.astype(xp.reshape(rows, (-1, 1, 1)) * xp.reshape(cols, (1, -1, 1)), xp.float64)
        return xp.astype(xp.clip(xp.floor(sums / counts + 0.5), 0, 255), xp.uint8)

    def _views(self, decoded, size):
        """``(slots, pixels)``: ``(key, view)`` per row of ``(n, size, size, 3)`` device pixels."""
        xp = self.xp
        cuts, reduced = [], {}  # cuts: (key, base view, image, box); reduced: (job index, factor) -> image
        for n, (job, scales, image) in enumerate(decoded):
            for base, factor in scales.items():
                if (n, factor) not in reduced:
                    reduced[n, factor] = self._reduce(image, factor)
                small = reduced[n, factor]
                cuts.append((job.key, base, small, _images.view_box(small.shape[1], small.shape[0], base)))
        shapes = [(bottom - top, right - left) for *_, (left, top, right, bottom) in cuts]
        order, outs = [], []  # cut indices in the order of the concatenated group outputs
        for group in groups_within(shapes, _PIXEL_BUDGET):
            height, width = padded_shape([shapes[i] for i in group])
            batch = xp.zeros((len(group), height, width, 3), dtype=xp.uint8, device=self.device)
            for j, i in enumerate(group):
                _, _, small, (left, top, right, bottom) = cuts[i]
                batch[j, : bottom - top, : right - left, :] = small[top:bottom, left:right, :]
            heights, widths = [shapes[i][0] for i in group], [shapes[i][1] for i in group]
            outs.append(resize_batch(batch, heights, widths, size, xp, xp.float64))
            order.extend(group)
        resized = xp.concat(outs) if len(outs) > 1 else outs[0]
        position = {(cuts[i][0], cuts[i][1]): k for k, i in enumerate(order)}
        slots, take, mirrored = [], [], []
        for job, _, _ in decoded:
            for view in job.views:
                if view.endswith("mirror"):
                    mirrored.append(len(slots))
                take.append(position[job.key, _base(view)])
                slots.append((job.key, view))
        # One gather puts every view in slot order; one flip turns the mirrors.
        rows = xp.take(resized, xp.asarray(take, device=self.device), axis=0)
        if mirrored:
            index = xp.asarray(mirrored, device=self.device)
            rows[index, ...] = xp.flip(xp.take(rows, index, axis=0), axis=2)
        return slots, rows

    def _decode_chunk(self, chunk, size, step):
        """``(slots, pixels, bad, extras)`` for one chunk of jobs: the codec's share, then the CPU's."""
        xp = self.xp
        t = time.perf_counter()
        plans = (
            self.pool.map(lambda job: self._plan(job, size), chunk)
            if self.pool
            else (self._plan(j, size) for j in chunk)
        )
        to_codec, to_cpu, bad, extras = [], [], [], []
        for job, plan in zip(chunk, plans, strict=True):
            if isinstance(plan, BadImage):
                bad.append((job.key, str(plan)))
            elif plan is None:
                to_cpu.append(job)
            else:
                to_codec.append((job, plan))
        slots, parts = [], []
        # Full-size images of one decode call stay under the budget: a folder of camera photos
        # must not hold a chunk's worth of 12-megapixel images on the device at once.
        for part in _within_pixels(to_codec, _DECODE_PIXELS):
            images = self.codec.decode([data for _, (data, _, _) in part])
            decoded = []
            for (job, (_, _, scales)), image in zip(part, images, strict=True):
                if image is None:
                    to_cpu.append(job)  # the codec could not: Pillow decides
                else:
                    decoded.append((job, scales, image))
            if decoded:
                part_slots, pixels = self._views(decoded, size)
                slots.extend(part_slots)
                parts.append(pixels)
            del images, decoded
        stats.add(seconds_decode=time.perf_counter() - t)
        for cpu_batch in self.fallback.batches(to_cpu, size, step) if to_cpu else ():
            bad.extend(cpu_batch.bad)
            extras.extend(cpu_batch.extras)
            n = len(cpu_batch.slots)
            if n:
                parts.append(xp.asarray(cpu_batch.pixels[:n].copy(), device=self.device))
                slots.extend(cpu_batch.slots)
        return slots, (xp.concat(parts) if len(parts) > 1 else parts[0]) if parts else None, bad, extras

    def batches(self, jobs, size, step):
        xp = self.xp
        pending_slots, pending, bad, extras = [], [], [], []
        for start in range(0, len(jobs), self.photos_per_decode):
            chunk = jobs[start : start + self.photos_per_decode]
            slots, pixels, found_bad, found_extras = self._decode_chunk(chunk, size, step)
            bad.extend(found_bad)
            extras.extend(found_extras)
            if pixels is not None:
                pending_slots.extend(slots)
                pending.append(pixels)
            while len(pending_slots) >= step:
                rows = xp.concat(pending) if len(pending) > 1 else pending[0]
                yield Batch(_to_backend(rows[:step, ...]), pending_slots[:step], bad, extras)
                pending_slots, pending, bad, extras = pending_slots[step:], [rows[step:, ...]], [], []
        if pending_slots or bad or extras:
            rows = [p for p in pending if p.shape[0]]
            filler = xp.zeros((step - len(pending_slots), size, size, 3), dtype=xp.uint8, device=self.device)
            yield Batch(_to_backend(xp.concat([*rows, filler])), pending_slots, bad, extras)
