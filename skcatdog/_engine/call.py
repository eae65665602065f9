"""One call of the engine, phase by phase::

items ─► identify (stat, memo, digests) ─► look rows up ─► hits ──────────────┐
                                              └► misses ─► decoder ─► forward ─► write
                                                                                ▼
                    remembered call ◄── remember ◄── assemble (per view, or the mean)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from .._config import DECODE_POOLS, gpu_decoding_asked, setting
from .._images import ImageLoadError, describe
from .._store import open_store
from .assemble import assembler_for
from .compute import check, compute
from .decode import Prefetched, ThreadDecoder
from .identify import Identifier, stat_files
from .probe import Misses, Prober, chunks
from .recall import CallMemory
from .request import Request, pixels_id, resolve_decoder
from .runner import gpu_available, resolve_batch_size, to_device
from .stats import stats

__all__ = [
    "MissingRows",
    "Rows",
    "content_digests",
    "decoder_id",
    "embed",
    "embed_many",
    "find_missing",
    "gpu_decoder_id",
]


@dataclass
class Rows:
    """What one forward pass gives for each input row."""

    embeddings: np.ndarray
    logits: np.ndarray


@dataclass
class MissingRows:
    """What a store lacks for some items (see :func:`find_missing`).

    Attributes
    ----------
    rows : dict
        Content digest -> indices of the items that hold it, first-seen order.
    views : dict
        Content digest -> the views it lacks.
    problems : list of (int, str)
        ``(index, reason)`` of every unusable item, in input order.
    """

    rows: dict
    views: dict
    problems: list


def _decoder_plan(threads, decoder="auto"):
    """``(pool -> decoder, description)`` for the ``decoder`` a call asks for, Pillow
    running where ``set_config(decoder=...)`` says."""
    choice = setting("decoder")
    if choice not in DECODE_POOLS and not gpu_decoding_asked():
        raise ValueError(f"decoder (or $SKCATDOG_DECODER) must be one of {DECODE_POOLS}, got {choice!r}")
    # Up to four threads scale as well as processes and start nothing.
    in_processes = choice == "processes" or (choice != "threads" and threads > 4)
    described = f"Pillow in {threads} {'worker processes' if in_processes else 'threads'}"

    def cpu(pool):
        if in_processes:
            from .processes import ProcessDecoder

            return ProcessDecoder(workers=threads)
        return ThreadDecoder(pool, lookahead=2 * threads)

    if not isinstance(decoder, str):  # the caller's own decoder, used as it is
        return (lambda pool: decoder), f"the decoder given ({decoder.id})"
    make = cpu
    if resolve_decoder(decoder) == "gpu":
        from . import gpu

        def make(pool):
            return gpu.GPUDecoder(cpu(pool), pool=pool)

        described = (
            f"nvImageCodec on the GPU ({described} for what it cannot take)"
            if gpu.available()
            else "the GPU, asked for, but it needs a CUDA device, torch and nvImageCodec here"
        )
    if gpu_available():
        # The forward pass runs on a GPU: decode and copy the next batches while it does.
        return lambda pool: Prefetched(make(pool), to_device), described + ", a batch ahead"
    return make, described


def decoder_id(decoder="auto"):
    """The name of the pixels ``decoder`` gives in this process (part of a row's fingerprint)."""
    return pixels_id(decoder)


def decoder_described(decoder="auto", n_jobs=-1):
    """What decodes photos in this process for a call asking for ``decoder``, in words."""
    return _decoder_plan(_threads(n_jobs), decoder)[1]


def gpu_decoder_id():
    """The name of the GPU decoder's pixels in this process, or ``None`` if it cannot decode on a GPU."""
    from . import gpu

    return gpu.default_id() if gpu.available() else None


def _threads(n_jobs):
    from joblib import effective_n_jobs

    return max(1, effective_n_jobs(n_jobs))


def _probe_all(prober, pool, items, misses, problems):
    """Probe every chunk: in this thread while chunks are answered from memory or a
    local store (they hold the GIL; threads would only contend for it), then
    fanned out over ``pool`` once a chunk reads files or the network."""
    todo = chunks(len(items))

    def collect(results):
        bad, found = results
        problems.extend((i, reason) for i, reason in bad)
        for i, source, views in found:
            misses.add(i, source, views)

    while todo and not prober.did_io:
        collect(prober.probe(todo.pop(0)))
    for results in pool.map(prober.probe, todo):
        collect(results)


def embed(items, backbone, weights="imagenet", *, view="crop", **kwargs):
    """Rows of (embedding, logits) for ``items`` in one view; see :func:`embed_many`."""
    return embed_many(items, backbone, weights, views=(view,), **kwargs)[0]


def embed_many(
    items,
    backbone,
    weights="imagenet",
    *,
    views=("crop",),
    batch_size="auto",
    cache="auto",
    n_jobs=-1,
    precision="auto",
    verbose=0,
    outputs=("embeddings", "logits"),
    mean_views=False,
    decoder="auto",
    extras=None,
):
    """Rows of (embedding, logits) for ``items``, one :class:`Rows` per view,
    from the cache or one forward pass per (view, distinct content).

    Each photo is read once and decoded once for all the views it misses.

    Parameters
    ----------
    items : sequence of str, path-like, ImageCrop or ndarray
        Validated by the caller to be one-dimensional.
    backbone : str or Backbone
    weights : "imagenet", path or None
    views : tuple of {"crop", "crop_mirror", "full", "mirror"}
    batch_size : int or "auto"
    cache : "auto", None, path, fsspec URL or Store
    n_jobs : int
        Read and decode threads, joblib convention (-1 = all cores).
    precision : {"auto", "float32", "mixed", "bfloat16"}
    verbose : int
    outputs : tuple of {"embeddings", "logits"}
        Which parts to return (the cache always stores both); asking for
        embeddings alone saves the memory of 1000 logits per image; ``()``
        computes and stores rows and returns ``None`` for each view.
    mean_views : bool
        Return one :class:`Rows`, the mean over the views (summed in view
        order, in float32), computed as rows are found: a warm call then
        writes each output row once instead of once per view.
    decoder : {"auto", "pillow", "gpu"} or Decoder
        What turns the misses into batches of pixels (see
        :func:`resolve_decoder`), or a decoder object; its pixels are named
        in the rows' fingerprint. Pillow runs in threads or processes as
        ``skcatdog.set_config(decoder=...)`` says.
    extras : Extras, optional
        Computed from each photo this call decodes, in the same decode (see
        :class:`~skcatdog._engine.decode.Extras`); photos whose rows are
        found are not decoded, so a caller computes the rest itself.

    Returns
    -------
    list of Rows or None
        One per view (or one, the mean, with ``mean_views``), with ``None``
        for a part not asked for.

    Raises
    ------
    ImageLoadError
        Naming every bad item.  Good items computed in the same call are
        cached before it is raised; nothing is ever cached for a bad one.
    """
    threads = _threads(n_jobs)
    request = Request.make(backbone, weights, precision, views, outputs, mean_views, decoder, extras=extras)
    make_decoder = _decoder_plan(threads, request.decoder)[0]
    items = list(items)
    store = open_store(cache)
    files = stat_files(items)
    assembler = assembler_for(request, store, len(items))
    memory = CallMemory(request, store, files)
    recalled = request.columns is not None and memory.recall(assembler.outputs())
    if recalled:
        stats.add(calls_recalled=1)
    problems, misses = [], Misses()
    prober = None
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            if not recalled:
                identifier = Identifier(items, store, files, assembler.lookup_digests)
                prober = Prober(request, store, identifier, assembler)
                _probe_all(prober, pool, items, misses, problems)

            def bad(rows, reason):
                problems.extend((i, reason) for i in rows)

            decoder = make_decoder(pool)
            if problems:
                # Name every bad item, not just the first kind found: decode the
                # remaining misses too (no forward pass) to find truncated data.
                check(misses, decoder, request.backbone.input_size, bad)
            elif misses:
                compute(request, store, misses, assembler, decoder, resolve_batch_size(batch_size), bad, verbose)
    finally:
        store.flush()
    if problems:
        problems.sort()
        raise ImageLoadError([(describe(items[i], i), reason) for i, reason in problems])
    out = assembler.outputs()
    if out is None:
        return [None] * (1 if mean_views else len(request.views))
    if not recalled:
        assembler.finish()
        memory.remember(out, prober.from_memory)
    # ``out`` holds only the kept columns: embeddings first (if kept), then logits.
    dim, columns = request.backbone.embedding_dim, request.columns
    outputs = tuple(outputs)
    return [
        Rows(
            embeddings=np.ascontiguousarray(o[:, :dim]) if "embeddings" in outputs else None,
            logits=np.ascontiguousarray(o[:, dim - columns.start :]) if "logits" in outputs else None,
        )
        for o in out
    ]


def find_missing(
    items,
    backbone,
    weights="imagenet",
    *,
    views=("crop",),
    cache="auto",
    n_jobs=-1,
    precision="auto",
    decoder="auto",
    fingerprint=None,
):
    """Which contents of ``items`` lack a row in ``cache``, without computing any.

    The same identify and look-up phases as :func:`embed_many` (the stat memo,
    batched presence checks that read no row, header checks), for a caller that
    computes the rows elsewhere (a cluster). Where the digest memo knows every
    file and the store holds every row, no photo is read.

    ``fingerprint`` names the rows where they are to be computed elsewhere
    (a cluster's workers, whose libraries decide it); by default, the
    fingerprint this process gives ``precision`` and ``decoder``.

    Returns
    -------
    MissingRows
    """
    request = Request.make(backbone, weights, precision, views, (), False, decoder, fingerprint)
    items = list(items)
    store = open_store(cache)
    assembler = assembler_for(request, store, len(items))
    identifier = Identifier(items, store, stat_files(items), assembler.lookup_digests)
    prober = Prober(request, store, identifier, assembler)
    problems, misses = [], Misses()
    with ThreadPoolExecutor(max_workers=_threads(n_jobs)) as pool:
        for results in pool.map(prober.probe, chunks(len(items))):
            bad, found = results
            problems.extend(bad)
            for i, source, need in found:
                misses.add(i, source, need)
    return MissingRows(rows=misses.rows, views=misses.views, problems=sorted(problems))


def content_digests(items, cache="auto", n_jobs=-1):
    """Each item's content digest, from the memos where it can (no photo read on a warm cache).

    Two items hold the same content exactly when their digests are equal.

    Returns
    -------
    digests : list of str or None
        ``None`` for an unusable item.
    problems : list of (int, str)
        ``(index, reason)`` of every unusable item, in input order.
    """
    items = list(items)
    store = open_store(cache)
    identifier = Identifier(items, store, stat_files(items))
    digests, problems = [None] * len(items), []
    todo = chunks(len(items))
    with ThreadPoolExecutor(max_workers=_threads(n_jobs)) as pool:
        for found, _, reasons in pool.map(identifier.identify, todo):
            for i, digest in found.items():
                digests[i] = digest
            problems.extend(reasons.items())
    return digests, sorted(problems)
