"""A decoder that runs Pillow in worker processes, for hosts with many cores.

Threads stop scaling past a few cores (the Python work between Pillow's
calls holds the GIL); processes do not. Workers write each photo's views
straight into their rows of a ring of batches in a memory-mapped file, which
the engine hands to the model as they lie, so pixels are neither pickled nor
copied by the parent, whose work per photo is what bounds a many-core host.
The pool outlives a call (starting processes costs more than a small call)
and is replaced if a worker dies: the jobs it held are decoded again, once;
a second death fails the call with the reason. Rows are only written after
their batch's forward pass, so a failed call leaves whole rows behind, never
part of one.
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
from .decode import Batch, decode_job
from .stats import stats

__all__ = ["ProcessDecoder", "default_workers", "shutdown"]


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


# In a worker: the batch file it last wrote to, mapped once per call.
_MAPPED = {}


def _ring(path, shape):
    if _MAPPED.get("path") != path:
        _MAPPED.clear()
        with open(path, "r+b") as f:
            _MAPPED.update(path=path, array=np.frombuffer(mmap.mmap(f.fileno(), 0), np.uint8).reshape(shape))
    return _MAPPED["array"]


def _decode_task(path, shape, task, size):
    """Worker: decode each ``(job, rows)`` of ``task`` straight into its batch rows
    (``rows[k]`` is ``(buffer, row)`` of the job's ``k``-th view); returns
    ``(reason or None, seconds, extra value)`` per job."""
    out = []
    for job, rows in task:
        t = time.perf_counter()
        pixels, reason, extra = decode_job(job, size)
        if reason is None:
            ring = _ring(path, shape)
            for (buffer, row), view in zip(rows, job.views, strict=True):
                ring[buffer, row] = pixels[view]
        out.append((reason, time.perf_counter() - t, extra))
    return out


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
        # Workers write each view into its final row of a ring of batches in shared memory, so
        # the parent copies no pixels: a batch is handed out as it lies there.
        lookahead = self.lookahead or 2 * _PER_TASK * self.workers
        n_views = max((len(job.views) for job in jobs), default=1)
        # Enough buffers that the next task always fits beside the batch being gathered.
        n_ring = 3 + -(-max(lookahead, _PER_TASK) * n_views // step)
        shape = (n_ring, step, size, size, 3)
        fd, path = tempfile.mkstemp(prefix="skcatdog-pixels-", dir="/dev/shm" if os.path.isdir("/dev/shm") else None)
        try:
            os.ftruncate(fd, int(np.prod(shape)))
            # Closed when the last view of it goes: a batch the consumer still holds keeps it alive.
            ring = np.frombuffer(mmap.mmap(fd, 0), np.uint8).reshape(shape)
            yield from self._batches(jobs, size, step, path, ring)
        finally:
            os.close(fd)
            os.unlink(path)

    def _batches(self, jobs, size, step, path, ring):
        """:class:`Batch` objects in job order. View ``p`` of the call (counting every job's
        views) goes to row ``p % step`` of batch ``p // step``, held in buffer ``batch % n``
        of the ring; a batch's buffer is written again only once the consumer has asked for
        the next batch. A bad job leaves its rows empty: the batch's later rows move up."""
        n_ring = ring.shape[0]
        starts = np.cumsum([0] + [len(job.views) for job in jobs])  # job i's first view
        pool = _pool(self.workers)
        tasks = collections.deque()  # (first job, last job + 1, future), in job order
        retried = False
        submitted = done = 0  # jobs
        released = 0  # batches the consumer is done with
        slots, bad, real, extras = [], [], [], []  # of the batch being gathered: (key, view), bad jobs, rows, extras

        def submit(first, last):
            task = [
                (jobs[i], [(p // step % n_ring, p % step) for p in range(starts[i], starts[i + 1])])
                for i in range(first, last)
            ]
            return pool.submit(_decode_task, path, ring.shape, task, size)

        def batch_of(p):
            return p // step

        try:
            while done < len(jobs):
                while submitted < len(jobs):
                    last = min(submitted + _PER_TASK, len(jobs))
                    if batch_of(starts[last] - 1) >= released + n_ring - 1:
                        break  # its rows would overwrite a batch not yet handed out or released
                    tasks.append((submitted, last, submit(submitted, last)))
                    submitted = last
                first, last, future = tasks[0]
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
                    tasks = collections.deque((a, b, submit(a, b)) for a, b, _ in tasks)
                    continue
                tasks.popleft()
                for i, (reason, seconds, extra) in zip(range(first, last), results, strict=True):
                    stats.add(seconds_decode=seconds)
                    job = jobs[i]
                    if reason is not None:
                        bad.append((job.key, reason))
                    elif extra is not None:
                        extras.append((job.key, extra))
                    for p, view in zip(range(starts[i], starts[i + 1]), job.views, strict=True):
                        if reason is None:
                            slots.append((job.key, view))
                            real.append(p % step)
                        if p % step == step - 1:  # the batch's last row: hand it out
                            yield self._handout(ring, batch_of(p) % n_ring, slots, real, bad, extras)
                            released = batch_of(p) + 1
                            slots, bad, real, extras = [], [], [], []
                    done = i + 1
            if slots or bad or extras:
                yield self._handout(ring, batch_of(starts[-1]) % n_ring, slots, real, bad, extras)
        finally:
            for _, _, future in tasks:
                future.cancel()

    @staticmethod
    def _handout(ring, buffer, slots, real, bad, extras):
        pixels = ring[buffer]
        for target, row in enumerate(real):
            if row != target:  # rows after a bad job's move up: real rows come first
                pixels[target] = pixels[row]
        return Batch(pixels, slots, bad, extras)
