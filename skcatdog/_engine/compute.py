"""Phase 4 of a call: forward the misses' batches, write their rows, place them in the output."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

from .decode import DecodeJob
from .runner import get_runner, gpu_available
from .stats import stats

__all__ = ["batch_step", "check", "compute", "finishes_behind"]


def batch_step(batch_size, n_samples):
    """One fixed batch shape per call: no retracing within it.

    On a CPU a handful of images does not pay for a full batch of padding (the
    shape is the next power of two, so a process sees a few shapes at most).
    On a GPU every call uses ``batch_size`` itself: padding costs the GPU
    little, while each new shape costs a compilation of seconds (XLA for JAX,
    a retrace for TensorFlow).
    """
    if gpu_available():
        return batch_size
    return min(batch_size, 1 << max(0, (n_samples - 1).bit_length()))


def _jobs(misses, extras=None):
    if extras is None:
        return [DecodeJob(d, misses.sources[d], tuple(misses.views[d])) for d in misses.rows]
    compute, views = extras.compute, tuple(extras.views)
    return [DecodeJob(d, misses.sources[d], tuple(misses.views[d]), compute, views) for d in misses.rows]


def check(misses, decoder, size, bad):
    """Decode every miss without a forward pass, to name every bad item: ``bad(rows, reason)``."""
    for batch in decoder.batches(_jobs(misses), size, 64):
        for digest, reason in batch.bad:
            bad(misses.rows[digest], reason)


def finishes_behind():
    """Whether a thread places and stores each batch's rows while the next batch is forwarded.

    On a GPU the forward pass is short, and the GPU would wait through every
    batch's placement and store write (a store write takes longer than the
    forward pass). On a CPU the forward pass already uses every core, and a
    thread working beside it slows it by more than the work costs in turn, so
    there rows are finished between forward passes.
    """
    return gpu_available()


def compute(request, store, misses, assembler, decoder, batch_size, bad, verbose=0):
    """Decode the misses (ahead, in ``decoder``) while this thread runs the forward passes.

    Rows are placed in the output by ``assembler`` and written to ``store`` a
    batch at a time (on a GPU by a thread one batch behind the forward
    passes); every batch has been finished, or its error raised here, when
    this returns. ``bad(rows, reason)`` is told of items that fail to decode. The
    request's extras, if any, are computed in the same decode and handed to their
    ``keep`` as batches arrive.
    """
    from tqdm.auto import tqdm

    runner = get_runner(request.backbone, request.weights, request.precision)
    n_samples = misses.n_views()
    step = batch_step(batch_size, n_samples)
    view_index = {v: k for k, v in enumerate(request.views)}
    bar = tqdm(
        total=n_samples,
        desc=f"{request.backbone.name} ({', '.join(request.views)})",
        unit="img",
        disable=not verbose,
        leave=False,
    )

    def finish(slots, rows):
        for (digest, view), row in zip(slots, rows, strict=True):
            assembler.place_computed(misses.rows[digest], view_index[view], row)
        named = [(request.row_name(view, digest), row) for (digest, view), row in zip(slots, rows, strict=True)]
        t = time.perf_counter()
        store.put_many(named)
        stats.add(seconds_store=time.perf_counter() - t)

    finisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="skcatdog-finish") if finishes_behind() else None
    finishing = None
    try:
        for batch in decoder.batches(_jobs(misses, request.extras), request.backbone.input_size, step):
            for digest, reason in batch.bad:
                bad(misses.rows[digest], reason)
                bar.update(len(misses.views[digest]))
            for digest, value in batch.extras:
                request.extras.deliver(digest, value)
            if not batch.slots:
                continue
            rows = runner.forward(batch.pixels, len(batch.slots))
            if finishing is not None:
                finishing.result()  # one batch in flight at most; its error surfaces here
            slots = list(batch.slots)
            finishing = finisher.submit(finish, slots, rows) if finisher is not None else finish(slots, rows)
            bar.update(len(slots))
        if finishing is not None:
            finishing.result()
    finally:
        if finisher is not None:
            finisher.shutdown(wait=True)
        bar.close()
