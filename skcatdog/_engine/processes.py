"""A decoder that runs Pillow in worker processes, for hosts with many cores.

Threads stop scaling past a few cores (the Python work between Pillow's
calls holds the GIL); processes do not. Workers write each photo's views
straight into a memory-mapped file the engine reads the batch from, so
pixels are never pickled. The pool outlives a call (starting processes costs
more than a small call) and is replaced if a worker dies: the jobs it held are
decoded again, once; a second death fails the call with the reason. Rows
are only written after their batch's forward pass, so a failed call leaves
whole rows behind, never part of one.
"""

from __future__ import annotations

import collections
import mmap
import os
import tempfile
import time
from concurrent.futures.process import BrokenProcessPool

import numpy as np
from joblib.externals.loky import get_reusable_executor

from .. import _images
from .decode import decode_job, fill_batches
from .stats import stats

__all__ = ["ProcessDecoder", "shutdown"]


# Photos per task sent to a worker: each task costs the parent's threads pickling, a pipe
# write and a wake-up, which one photo per task made the ceiling of a many-core host.
_PER_TASK = 4


def _pool(workers):
    # joblib's loky executor: reused across calls, replaced when a worker died, and its workers
    # never run the user's __main__ again (a script needs no `if __name__ == "__main__"` guard).
    return get_reusable_executor(max_workers=workers, timeout=300)


def shutdown():
    """Stop the worker processes (they start again on the next call that needs them)."""
    get_reusable_executor(max_workers=1).shutdown(wait=True)


# In a worker: the slot file it last wrote to, mapped once per call.
_MAPPED = {}


def _slots(path, shape):
    if _MAPPED.get("path") != path:
        _MAPPED.clear()
        with open(path, "r+b") as f:
            _MAPPED.update(path=path, array=np.frombuffer(mmap.mmap(f.fileno(), 0), np.uint8).reshape(shape))
    return _MAPPED["array"]


def _decode_into(path, shape, slot, job, size):
    """Worker: decode ``job`` into ``slot``; returns ``(views, reason, seconds)``."""
    t = time.perf_counter()
    pixels, reason = decode_job(job, size)
    if reason is not None:
        return None, reason, time.perf_counter() - t
    slots = _slots(path, shape)
    views = list(pixels)
    for k, view in enumerate(views):
        slots[slot, k] = pixels[view]
    return views, None, time.perf_counter() - t


def _decode_task(path, shape, task, size):
    """Worker: :func:`_decode_into` for each ``(slot, job)`` of ``task``."""
    return [_decode_into(path, shape, slot, job, size) for slot, job in task]


def default_workers():
    """Every core this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class ProcessDecoder:
    """Pillow in worker processes; the same pixels as the thread decoder.

    Parameters
    ----------
    workers : int, optional
        Worker processes; default every core.
    lookahead : int, optional
        Photos decoded ahead of the batch being filled; default two tasks of
        four photos per worker, and at least two batches.
    """

    id = _images.DECODER_ID  # the same pixels as the thread decoder: the same rows

    def __init__(self, workers=None, lookahead=None):
        self.workers = workers or default_workers()
        self.lookahead = lookahead

    def batches(self, jobs, size, step):
        n_views = max((len(job.views) for job in jobs), default=1)
        n_slots = max(2 * step, self.lookahead or 2 * _PER_TASK * self.workers)
        shape = (n_slots, n_views, size, size, 3)
        fd, path = tempfile.mkstemp(prefix="skcatdog-pixels-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        try:
            os.ftruncate(fd, int(np.prod(shape)))
            # Closed when the last view of it goes: a batch the consumer still holds keeps it alive.
            slots = np.frombuffer(mmap.mmap(fd, 0), np.uint8).reshape(shape)
            yield from fill_batches(self._decoded(jobs, size, path, shape, slots), size, step)
        finally:
            os.close(fd)
            os.unlink(path)

    def _decoded(self, jobs, size, path, shape, slots):
        """``(key, pixels by view, reason)`` in job order; an item's slot is reused once the
        consumer asks for the next item (it has copied the pixels by then)."""
        pool = _pool(self.workers)
        free = collections.deque(range(shape[0]))
        tasks = collections.deque()  # ([(job, slot), ...], future), in job order
        retried = False
        submitted = 0

        def submit(part):
            return pool.submit(_decode_task, path, shape, [(slot, job) for job, slot in part], size)

        try:
            while submitted < len(jobs) or tasks:
                while submitted < len(jobs) and len(free) >= min(_PER_TASK, len(jobs) - submitted):
                    part = [(job, free.popleft()) for job in jobs[submitted : submitted + _PER_TASK]]
                    tasks.append((part, submit(part)))
                    submitted += len(part)
                part, future = tasks[0]
                try:
                    results = future.result()
                except BrokenProcessPool:
                    if retried:
                        raise RuntimeError(
                            "the image decoding worker processes died twice in one call "
                            "(out of memory, or killed); nothing was stored for the photos they held"
                        ) from None
                    retried = True
                    pool = _pool(self.workers)
                    tasks = collections.deque((p, submit(p)) for p, _ in tasks)
                    continue
                tasks.popleft()
                for (job, slot), (views, reason, seconds) in zip(part, results, strict=True):
                    stats.add(seconds_decode=seconds)
                    pixels = None if reason is not None else {view: slots[slot, k] for k, view in enumerate(views)}
                    yield job.key, pixels, reason
                    free.append(slot)
        finally:
            for _, future in tasks:
                future.cancel()
