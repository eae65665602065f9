"""A decoder for GPU machines: JPEGs decoded by NVIDIA nvImageCodec (the GPU's
hardware JPEG engine where it has one), every view cropped and resized on the
GPU, and the batch handed to the model without a trip through host memory.

What it does not take (PNG and other formats, CMYK, crops of a file, arrays,
data it cannot decode, files that do not end as a JPEG ends) goes to the CPU
decoder item by item, with the CPU decoder's verdict: a bad item is named in
the call's one :class:`~skcatdog.ImageLoadError` and nothing is stored for it.

Its pixels are not Pillow's to the bit (full-resolution decode, then torch's
antialiased bilinear resize, where Pillow decodes at a reduced DCT scale), so
its rows carry their own fingerprint (:attr:`GPUDecoder.id`) and never mix
with rows the CPU decoder made.
"""

from __future__ import annotations

import functools
import io
import time

from .. import _images
from .._images import BadImage
from .decode import Batch
from .stats import stats

__all__ = ["GPUDecoder", "available"]

_JPEG_START, _JPEG_END = b"\xff\xd8\xff", b"\xff\xd9"


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


def _version():
    mods = _modules()
    if mods is None:
        return "absent"
    nvimgcodec, torch = mods
    return f"{getattr(nvimgcodec, '__version__', '?')}+torch{torch.__version__.split('+')[0]}"


def _to_backend(tensor):
    """A CUDA torch tensor as the Keras backend's own array, on the same device, without a copy."""
    import keras

    backend = keras.backend.backend()
    if backend == "torch":
        return tensor
    if backend == "jax":
        import jax

        return jax.dlpack.from_dlpack(tensor)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.experimental.dlpack.from_dlpack(tensor.__dlpack__())
    raise RuntimeError(f"GPU decoding does not know the Keras backend {backend!r}")


class GPUDecoder:
    """nvImageCodec decode and torch resize on the GPU, a CPU decoder for the rest.

    Parameters
    ----------
    fallback : Decoder
        Decodes what the GPU does not take (see the module's notes).
    photos_per_decode : int, default=256
        Photos sent to nvImageCodec at once.
    """

    def __init__(self, fallback, photos_per_decode=256):
        if not available():
            raise RuntimeError(
                "GPU decoding needs a CUDA device, torch and NVIDIA nvImageCodec: pip install 'skcatdog[gpu]'"
            )
        nvimgcodec, torch = _modules()
        self.fallback = fallback
        self.photos_per_decode = photos_per_decode
        self.torch = torch
        self.device = torch.device("cuda", torch.cuda.current_device())
        backends = [nvimgcodec.Backend(kind) for kind in self._backend_kinds(nvimgcodec)]
        # Fancy upsampling: the chroma upsampling libjpeg (so Pillow) does.
        self.codec = nvimgcodec.Decoder(backends=backends, options=":fancy_upsampling=1")
        self.params = nvimgcodec.DecodeParams(apply_exif_orientation=True, color_spec=nvimgcodec.ColorSpec.RGB)
        self._buffer = None  # the batch on the device, kept across calls (no allocation per call)

    id = f"nvimgcodec-gpu-antialias-bilinear/{_version()}"

    @staticmethod
    def _backend_kinds(nvimgcodec):
        kinds = nvimgcodec.BackendKind
        # The hardware engine first (it leaves the compute cores to the model), then CUDA.
        return [k for k in (getattr(kinds, "HW_GPU_ONLY", None), kinds.GPU_ONLY, kinds.HYBRID_CPU_GPU) if k]

    def _for_gpu(self, job):
        """The job's bytes if the GPU should decode it, else ``None``."""
        source = job.source
        if source.array is not None or source.box is not None or source.path is None:
            return None
        data = _images.source_bytes(source)  # re-read and checked against the digest
        if not data.startswith(_JPEG_START) or not data.rstrip(b"\0").endswith(_JPEG_END):
            return None  # not a JPEG, or truncated: Pillow decides
        from PIL import Image

        if Image.open(io.BytesIO(data)).mode not in ("RGB", "L"):  # CMYK, YCCK: Pillow converts them
            return None
        return data

    def _views(self, image, size, views):
        """``view -> (size, size, 3)`` uint8 tensor on the device from one decoded image."""
        torch = self.torch
        hwc = torch.from_dlpack(image)  # uint8 (height, width, 3) on the device
        height, width = hwc.shape[0], hwc.shape[1]
        chw = hwc.permute(2, 0, 1).unsqueeze(0).float()
        out = {}
        for view in views:
            left, top, right, bottom = _images.view_box(width, height, view)
            part = chw[:, :, top:bottom, left:right]
            if part.shape[2:] != (size, size):
                part = torch.nn.functional.interpolate(
                    part, size=(size, size), mode="bilinear", antialias=True, align_corners=False
                )
            pixels = part.round_().clamp_(0, 255).to(torch.uint8)[0].permute(1, 2, 0)
            out[view] = pixels.flip(1) if view.endswith("mirror") else pixels
        return out

    def batches(self, jobs, size, step):
        torch = self.torch
        if self._buffer is None or self._buffer.shape != (step, size, size, 3):
            self._buffer = torch.zeros((step, size, size, 3), dtype=torch.uint8, device=self.device)
        batch, slots, bad = self._buffer, [], []
        for start in range(0, len(jobs), self.photos_per_decode):
            chunk = jobs[start : start + self.photos_per_decode]
            t = time.perf_counter()
            on_gpu, on_cpu = [], []
            for job in chunk:
                try:
                    data = self._for_gpu(job)
                except BadImage as exc:
                    bad.append((job.key, str(exc)))
                    continue
                (on_gpu if data is not None else on_cpu).append((job, data))
            images = self.codec.decode([data for _, data in on_gpu], params=self.params) if on_gpu else []
            ready = []
            for (job, _), image in zip(on_gpu, images, strict=True):
                if image is None:
                    on_cpu.append((job, None))  # the GPU could not: Pillow decides
                else:
                    ready.extend((job.key, view, px) for view, px in self._views(image, size, job.views).items())
            stats.add(seconds_decode=time.perf_counter() - t)
            for cpu_batch in self.fallback.batches([job for job, _ in on_cpu], size, step) if on_cpu else ():
                bad.extend(cpu_batch.bad)
                pixels = torch.as_tensor(cpu_batch.pixels[: len(cpu_batch.slots)]).to(self.device)
                ready.extend((key, view, pixels[j]) for j, (key, view) in enumerate(cpu_batch.slots))
            for key, view, pixels in ready:
                batch[len(slots)] = pixels
                slots.append((key, view))
                if len(slots) == step:
                    yield Batch(_to_backend(batch), slots, bad)
                    slots, bad = [], []
        if slots or bad:
            yield Batch(_to_backend(batch), slots, bad)
