"""Phase 3 of a call: sources in, fixed-shape batches of pixels out.

The decoder is the engine's one replaceable part between the files and the
model: anything with :class:`Decoder`'s method can stand in for the thread
decoder here (a pool of processes, a GPU decoder that leaves the pixels on
the device), and the engine never asks which one it has.
"""

from __future__ import annotations

import collections
import queue
import threading
import time
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from .. import _images
from .._images import BadImage
from .stats import stats

__all__ = ["Batch", "DecodeJob", "Decoder", "Extras", "Prefetched", "ThreadDecoder", "fill_batches"]


@dataclass(frozen=True)
class Extras:
    """A computation on each decoded photo beside its views, in the pass that decodes it.

    A caller that needs more of a photo than the model's rows (pixel
    statistics, a small grey copy) gets it without decoding the photo again.

    Attributes
    ----------
    compute : callable
        ``compute(source, pixels)``, ``pixels`` being ``{view: (size, size, 3)
        uint8}`` for the job's views and ``views``; returns any value. It runs
        where the photo is decoded (a thread, a worker process): it must be
        picklable and must not raise for a photo that decoded.
    deliver : callable
        ``deliver(digest, value)``, called in the calling thread as batches arrive.
    views : tuple of str, default=("full",)
        The views ``compute`` reads, cut from the same decode as the model's.
    """

    compute: object
    deliver: object
    views: tuple = ("full",)


@dataclass(frozen=True)
class DecodeJob:
    """One content to decode: ``key`` names it to the caller.

    ``extra`` is an :attr:`Extras.compute` to apply to the decoded photo (its
    value comes back in :attr:`Batch.extras`), reading ``extra_views`` too.
    """

    key: str
    source: _images.Source
    views: tuple
    extra: object = None
    extra_views: tuple = ()


@dataclass
class Batch:
    """A batch of ``(step, size, size, 3)`` uint8 pixels, the first ``len(slots)`` real.

    ``slots[j]`` is ``(job key, view)`` of row ``j``; ``bad`` lists ``(job key,
    reason)`` for jobs found bad since the previous batch. The pixels may be
    reused for the next batch once the consumer asks for it. ``extras`` lists
    ``(job key, value)`` of the :attr:`DecodeJob.extra` of jobs decoded since
    the previous batch.
    """

    pixels: object
    slots: list
    bad: list
    extras: list = field(default_factory=list)


class Decoder(Protocol):
    """Turns decode jobs into batches, in job order, decoding ahead of the consumer.

    Attributes
    ----------
    id : str
        Names the decoder's pixels: part of the rows' fingerprint. Decoders
        that give Pillow's pixels to the bit use :data:`skcatdog._images.DECODER_ID`.
    """

    id: str

    def batches(self, jobs, size, step):
        """Yield :class:`Batch` objects for ``jobs`` (a sequence of :class:`DecodeJob`),
        each ``step`` rows of ``size`` x ``size`` pixels; the last may be partial, and a
        batch may hold only ``bad`` entries."""


def decode_job(job, size):
    """``(pixels by view, None, extra value)`` or ``(None, reason, None)``; never raises for a
    bad image. One decode serves the job's views and its :attr:`~DecodeJob.extra`."""
    t = time.perf_counter()
    try:
        if job.extra is None:
            return _images.decode_views(job.source, size, job.views), None, None
        wanted = tuple(dict.fromkeys(job.views + tuple(job.extra_views)))
        pixels = _images.decode_views(job.source, size, wanted)
        value = job.extra(job.source, pixels)
        return {view: pixels[view] for view in job.views}, None, value
    except BadImage as exc:
        return None, str(exc), None
    finally:
        stats.add(seconds_decode=time.perf_counter() - t)


def fill_batches(decoded, size, step):
    """:class:`Batch` objects filled from ``decoded``, an iterator of ``(key, pixels by view,
    None)`` or ``(key, None, reason)`` in job order, each optionally followed by the job's
    extra value. An item's pixels are copied into the batch before the next item is taken,
    so a decoder may reuse their memory from then on."""
    batch = np.zeros((step, size, size, 3), dtype=np.uint8)
    slots, bad, extras = [], [], []
    for key, pixels, reason, *extra in decoded:
        if reason is not None:
            bad.append((key, reason))
            continue
        if extra and extra[0] is not None:
            extras.append((key, extra[0]))
        for view, arr in pixels.items():
            batch[len(slots)] = arr
            slots.append((key, view))
            if len(slots) == step:
                yield Batch(batch, slots, bad, extras)
                slots, bad, extras = [], [], []
    if slots or bad or extras:
        yield Batch(batch, slots, bad, extras)


class ThreadDecoder:
    """Pillow in a pool of threads, ``lookahead`` jobs ahead of the batch being filled.

    Parameters
    ----------
    pool : concurrent.futures.Executor
    lookahead : int
        Jobs decoded ahead; at least two batches' worth are kept in flight.
    """

    id = _images.DECODER_ID

    def __init__(self, pool, lookahead):
        self.pool = pool
        self.lookahead = lookahead

    def batches(self, jobs, size, step):
        return fill_batches(self._decoded(jobs, size, max(2 * step, self.lookahead)), size, step)

    def _decoded(self, jobs, size, lookahead):
        futures = collections.deque()
        submitted = 0
        try:
            while submitted < len(jobs) or futures:
                while submitted < len(jobs) and len(futures) < lookahead:
                    job = jobs[submitted]
                    futures.append((job.key, self.pool.submit(decode_job, job, size)))
                    submitted += 1
                key, future = futures.popleft()
                yield (key, *future.result())
        finally:
            for _, future in futures:
                future.cancel()


class _Failed:
    def __init__(self, exc):
        self.exc = exc


_DONE = object()


class Prefetched:
    """Another decoder run in a thread, ``depth`` batches ahead of the consumer.

    Each batch's pixels go through ``transfer`` in that thread (a copy to the
    model's device), so that decoding and the copy overlap the forward pass
    instead of preceding it. ``transfer`` must return memory the decoder will
    not write to again: a decoder may reuse its batch once it is asked for the
    next one, which the thread does at once.

    Parameters
    ----------
    decoder : Decoder
    transfer : callable
        Pixels -> the array to give the model.
    depth : int, default=2
        Batches waiting, transferred, for the consumer.
    """

    def __init__(self, decoder, transfer, depth=2):
        self.decoder = decoder
        self.transfer = transfer
        self.depth = depth
        self.id = decoder.id  # the same pixels

    def batches(self, jobs, size, step):
        ready = queue.Queue(maxsize=self.depth)
        stop = threading.Event()

        def put(item):
            while not stop.is_set():
                try:
                    ready.put(item, timeout=0.05)
                    return True
                except queue.Full:
                    continue
            return False

        def produce():
            inner = None
            try:
                inner = iter(self.decoder.batches(jobs, size, step))
                for batch in inner:
                    moved = Batch(self.transfer(batch.pixels), list(batch.slots), list(batch.bad), list(batch.extras))
                    if not put(moved):
                        return
                put(_DONE)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the consumer's thread
                put(_Failed(exc))
            finally:
                if hasattr(inner, "close"):  # None (it failed to start) has none
                    inner.close()  # the decoder's own clean-up (pending work, its pool) runs here

        thread = threading.Thread(target=produce, name="skcatdog-prefetch", daemon=True)
        thread.start()
        try:
            while True:
                item = ready.get()
                if item is _DONE:
                    return
                if isinstance(item, _Failed):
                    raise item.exc
                yield item
        finally:
            stop.set()
            thread.join()
