"""The engine: images in, cached rows of (embedding, logits) out.

Every estimator that needs a CNN asks :func:`embed` for rows; none decodes
images or calls a model itself.  One call does::

    items ──► read + digest + cache lookup (threads) ──► hits ─────────────┐
                          misses ──► decode + resize (threads, ahead) ──►   │
                                     uint8 batches ──► compiled forward ──► rows in input order
                                                                 └──► cache write per batch

Preprocessing runs inside the compiled model (so the accelerator gets uint8,
a quarter of the bytes of float32), batches have one fixed shape (no
retracing on any backend), and decoding for the next batches overlaps the
forward pass of the current one.
"""

from __future__ import annotations

import collections
import functools
import os
import threading
import time
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from stat import S_ISREG

import numpy as np

from . import _cache, _images
from ._cache import EmbeddingStore, memo_key, memo_keys, model_fingerprint, stat_key, store_for
from ._config import setting
from ._images import ImageCrop, ImageLoadError, _Bad, describe
from .backbones import PREPROCESSING, get_backbone

__all__ = ["embed", "embed_many", "Rows", "stats", "get_runner", "PRECISIONS"]

PRECISIONS = ("auto", "float32", "mixed")


class _Stats:
    """Counts of work done by forward passes in this process (tests read them)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self.images_forwarded = 0
            self.models_built = 0
            # Seconds spent per stage, summed over threads (the benchmarks print them).
            self.seconds_decode = 0.0
            self.seconds_forward = 0.0
            self.seconds_store = 0.0

    def add(self, **counts):
        with self._lock:
            for name, n in counts.items():
                setattr(self, name, getattr(self, name) + n)


stats = _Stats()


@dataclass
class Rows:
    """What one forward pass gives for each input row."""

    embeddings: np.ndarray
    logits: np.ndarray


@functools.lru_cache(maxsize=1)  # devices do not come and go within a process
def _gpu_available():
    import keras

    backend = keras.backend.backend()
    try:
        if backend == "tensorflow":
            import tensorflow as tf

            return bool(tf.config.list_physical_devices("GPU"))
        if backend == "jax":
            import jax

            return any(d.platform == "gpu" for d in jax.devices())
        if backend == "torch":
            import torch

            return torch.cuda.is_available()
    except Exception:  # noqa: BLE001 - a broken accelerator stack means "use the CPU"
        return False
    return False


def resolve_precision(precision):
    """``"auto"`` is mixed precision on a GPU and float32 elsewhere."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "mixed" if _gpu_available() else "float32"
    return precision


def _preprocessing_layer(mode):
    import keras
    from keras import ops

    class Preprocess(keras.layers.Layer):
        def call(self, x):
            return ops.cast(PREPROCESSING[mode](ops.cast(x, "float32"), ops), self.compute_dtype)

    return Preprocess(name="preprocess")


class _Runner:
    """A built model and its fixed-shape compiled forward pass."""

    def __init__(self, backbone, weights, precision):
        import keras

        size = backbone.input_size
        previous = keras.config.dtype_policy()
        try:
            if precision == "mixed":
                keras.config.set_dtype_policy("mixed_float16")
            core = backbone.build_model(weights)
            inputs = keras.Input((size, size, 3), dtype="uint8", name="pixels")
            embedding, logits = core(_preprocessing_layer(backbone.preprocessing)(inputs))
            outputs = [
                keras.layers.Activation("linear", dtype="float32", name="embedding")(embedding),
                keras.layers.Activation("linear", dtype="float32", name="logits")(logits),
            ]
        finally:
            keras.config.set_dtype_policy(previous)
        self.model = keras.Model(inputs, outputs, name=f"skcatdog_{backbone.name}")
        self.lock = threading.Lock()
        self.lite = None
        if precision == "float32" and _use_litert(backbone):
            from ._config import get_config
            from ._litert import ConversionMismatch, LiteForward

            try:
                self.lite = LiteForward(self.model, backbone, fingerprint(backbone, weights, precision))
            except ConversionMismatch as exc:
                if get_config()["cpu_runtime"] == "litert":
                    raise
                warnings.warn(f"{exc}; the forward pass runs on Keras instead", RuntimeWarning, stacklevel=2)
        self.runtime = "litert" if self.lite is not None else "keras"
        stats.add(models_built=1)

    def forward(self, batch, n_real=None):
        """``(b, size, size, 3)`` uint8 -> float32 ``(n_real, dim + n_classes)``.

        Rows past ``n_real`` are padding that keeps the batch shape fixed.
        """
        n_real = len(batch) if n_real is None else n_real
        t = time.perf_counter()
        with self.lock:
            if self.lite is not None:
                embedding, logits = self.lite(batch, n_real)
            else:
                embedding, logits = self.model.predict_on_batch(batch)
        stats.add(images_forwarded=n_real, seconds_forward=time.perf_counter() - t)
        return np.concatenate(
            [np.asarray(embedding[:n_real], np.float32), np.asarray(logits[:n_real], np.float32)], axis=1
        )


def _use_litert(backbone):
    """Whether float32 forward passes go through LiteRT (see ``skcatdog.set_config``)."""
    import keras

    from ._config import _RUNTIMES, get_config

    runtime = get_config()["cpu_runtime"]
    if runtime not in _RUNTIMES:
        raise ValueError(f"cpu_runtime (or $SKCATDOG_CPU_RUNTIME) must be one of {_RUNTIMES}, got {runtime!r}")
    if runtime == "keras":
        return False
    from ._litert import available

    possible = keras.backend.backend() == "tensorflow" and not _gpu_available()
    if runtime == "litert" and not (possible and available()):
        raise RuntimeError(
            "cpu_runtime='litert' needs the TensorFlow backend, no GPU, and ai-edge-litert "
            "(pip install ai-edge-litert) or TensorFlow's tf.lite"
        )
    return possible and available()


_RUNNERS: dict[tuple, _Runner] = {}
_RUNNERS_LOCK = threading.Lock()


def get_runner(backbone, weights, precision):
    """The process-wide runner for this model; built once, never pickled."""
    from ._config import get_config

    backbone = get_backbone(backbone)
    key = (backbone.name, backbone.weights_identity(weights), precision, get_config()["cpu_runtime"])
    with _RUNNERS_LOCK:
        if key not in _RUNNERS:
            _RUNNERS[key] = _Runner(backbone, weights, precision)
        return _RUNNERS[key]


def fingerprint(backbone, weights, precision):
    """Everything that decides a row's values, hashed (see :mod:`skcatdog._cache`)."""
    import keras

    backbone = get_backbone(backbone)
    return model_fingerprint(
        backbone=backbone.name,
        revision=backbone.revision,
        weights=backbone.weights_identity(weights),
        input_size=backbone.input_size,
        preprocessing=backbone.preprocessing,
        pooling="avg",
        outputs=["embedding", backbone.embedding_dim, "logits", backbone.n_classes],
        precision=precision,
        decoder=_images.DECODER_ID,
        backend=keras.backend.backend() if precision == "mixed" else "any",
    )


def _chunks(n, size):
    return [range(i, min(i + size, n)) for i in range(0, n, size)]


def embed(items, backbone, weights="imagenet", *, view="crop", **kwargs):
    """Rows of (embedding, logits) for ``items`` in one view; see :func:`embed_many`."""
    return embed_many(items, backbone, weights, views=(view,), **kwargs)[0]


def embed_many(
    items,
    backbone,
    weights="imagenet",
    *,
    views=("crop",),
    batch_size=64,
    cache="auto",
    n_jobs=-1,
    precision="auto",
    verbose=0,
    outputs=("embeddings", "logits"),
    mean_views=False,
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
    batch_size : int
    cache : "auto", None, path or fsspec URL
    n_jobs : int
        Read and decode threads, joblib convention (-1 = all cores).
    precision : {"auto", "float32", "mixed"}
    verbose : int
    outputs : tuple of {"embeddings", "logits"}
        Which parts to return (the cache always stores both); asking for
        embeddings alone saves the memory of 1000 logits per image; ``()``
        computes and stores rows and returns ``None`` for each view.
    mean_views : bool
        Return one :class:`Rows`, the mean over the views (summed in view
        order, in float32), computed as rows are found: a warm call then
        writes each output row once instead of once per view.

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
    from joblib import effective_n_jobs

    views = tuple(views)
    if not views or any(v not in _images.VIEWS for v in views) or len(set(views)) != len(views):
        raise ValueError(f"views must be distinct names from {_images.VIEWS}, got {views!r}")
    backbone = get_backbone(backbone)
    dim = backbone.embedding_dim
    outputs = tuple(outputs)
    if set(outputs) - {"embeddings", "logits"}:
        raise ValueError(f"outputs must name 'embeddings' and/or 'logits', got {outputs!r}")
    if not outputs:
        keep = None
    else:
        keep = slice(0 if "embeddings" in outputs else dim, None if "logits" in outputs else dim)
    call = _Call(list(items), backbone, weights, resolve_precision(precision), views, cache, keep, mean_views)
    threads = max(1, effective_n_jobs(n_jobs))
    recalled = call.recall()
    try:
        with ThreadPoolExecutor(max_workers=threads) as pool:
            chunks = [] if recalled else _chunks(len(call.items), _PROBE_CHUNK)
            # Chunks answered from process memory or the local SQLite store hold the GIL
            # (SQLite hands it back per row): threads would only contend for it, and each
            # would open its own connection. Probe here until a chunk reads files or the
            # network, then fan out.
            while chunks and not call.did_io:
                call.collect(call.probe(chunks.pop(0)))
            for results in pool.map(call.probe, chunks):
                call.collect(results)
            if call.problems:
                # Name every bad item, not just the first kind found: decode the
                # remaining misses too (no forward pass) to find truncated data.
                call.check_pending(pool)
            elif call.pending:
                call.compute(pool, batch_size, lookahead=2 * threads, verbose=verbose)
    finally:
        if call.store is not None:
            call.store.flush()
    if call.problems:
        call.problems.sort(key=lambda p: p[2])
        raise ImageLoadError([(name, reason) for name, reason, _ in call.problems])
    if keep is None:
        return [None] * call.out_views
    if not recalled:
        call.finish()
        call.remember()
    # call.out holds only the kept columns: embeddings first (if kept), then logits.
    return [
        Rows(
            embeddings=np.ascontiguousarray(out[:, :dim]) if "embeddings" in outputs else None,
            logits=np.ascontiguousarray(out[:, dim - keep.start :]) if "logits" in outputs else None,
        )
        for out in call.out
    ]


# Items per probe task: large enough that one SQLite query serves many rows,
# small enough that a few threads share the work.
_PROBE_CHUNK = 512


class _Call:
    """The state of one :func:`embed_many` call: which rows are hits, misses or bad."""

    def __init__(self, items, backbone, weights, precision, views, cache, keep, mean_views=False):
        self.items, self.backbone, self.weights, self.precision = items, backbone, weights, precision
        self.views = views
        self.width = backbone.embedding_dim + backbone.n_classes
        self.keep = keep  # the columns of a cached row that the caller wants (None: none)
        # The floats read from the store: the kept ones, or one float to learn a row exists.
        self.cols = (0, 1) if keep is None else (keep.start, keep.stop or self.width)
        n_kept = 0 if keep is None else len(range(self.width)[keep])
        # With mean_views, one output holds the mean; rows of items still missing
        # a view wait in ``parts`` (item -> (digest, row per view)) until the end.
        self.mean = mean_views and len(views) > 1
        self.out_views = 1 if mean_views else len(views)
        self.out = np.empty((self.out_views, len(items), n_kept), dtype=np.float32) if keep is not None else None
        self.parts = {}
        self.did_io = False  # whether a probe read a file or a remote store (threads help)
        self.store = store_for(cache)
        self.memory_prefix = (
            None if self.store is None else (getattr(self.store, "url", None) or str(self.store.directory))
        )
        self.fingerprint = fingerprint(backbone, weights, precision)
        mean_name = f"mean({'+'.join(views)})[{self.cols[0]}:{self.cols[1]}]"  # of the kept columns
        # Memory key of a mean row, with the digest: everything else that decides it,
        # as one string (its hash is computed once; a nested tuple's is not).
        self.mean_tag = f"{self.memory_prefix}/{self.fingerprint}/{mean_name}"
        # A local store keeps each photo's mean of the views too, under that name, so that
        # a warm call in a new process reads one row per photo instead of one per view.
        self.mean_view = (
            mean_name if self.mean and keep is not None and isinstance(self.store, EmbeddingStore) else None
        )
        # Memory key of this call's whole output, with the memo keys of its files (see recall).
        # It holds the size cap: a remembered call is answered without checking its files
        # against the cap again.
        self.call_tag = (
            f"{self.memory_prefix}/{self.fingerprint}/call({'+'.join(views)}, mean={self.mean})"
            f"[{self.cols[0]}:{self.cols[1]}] max_file_bytes={setting('max_file_bytes')}"
        )
        self.call_key = None  # set by recall where the output can be remembered
        # Every file's stat, when it was taken, and memo key: made once per call by recall.
        self.stats, self.stats_started, self.files = None, None, None
        self.from_memory = True  # whether every row so far came from process memory (see remember)
        self.means_stored = set()  # digests whose mean row the store has
        self.prefetched = {}  # digest -> stored mean, read with the digest memo
        self.problems = []  # (item name, reason, row index)
        self.pending = {}  # digest -> rows waiting for it, first-seen order
        self.sources = {}  # digest -> source to decode
        self.missing = {}  # digest -> views it still needs

    def recall(self):
        """Stat every file, once for the call (paths only: :meth:`_identify` uses the stats),
        then fill the output from an earlier call's if it asked for the same rows of the
        same files, none changed since (each file's memo key equal); returns whether it did.

        GridSearchCV transforms each fold once per candidate: those calls cost a stat per
        file and one copy.
        """
        if not _all_str(self.items):
            return False
        started = time.time()  # before any stat: see DigestMemo.trusted
        stat = os.stat
        try:
            sts = [stat(p) for p in self.items]
        except OSError:
            return False  # _identify names the missing files
        self.stats, self.stats_started, self.files = sts, started, tuple(memo_keys(self.items, sts))
        if self.out is None or self.store is None:
            return False
        self.call_key = _CallKey(self.call_tag, self.files)
        (kept,) = _cache.memory.get_many([self.call_key])
        if kept is None:
            return False  # _identify checks the files and names any bad ones
        # Every file has the stat it had in the remembered call, whose files were all
        # regular, non-empty and under the cap (in call_tag) when it was computed.
        np.copyto(self.out, kept)
        return True

    def remember(self):
        """Keep the output for :meth:`recall`, if every row came from process memory and
        every file's digest from the memo (whose entries are files stat-ed when their
        content was no longer changing).

        A call that read the store or computed rows is this process's first look at them,
        as a new process's one call is: its output is not copied. A call on rows already
        held, as GridSearchCV's folds are, is. Outputs share the memory budget with rows;
        one over an eighth of it is not kept, so that a few large calls do not push out
        the rows every other call reads.
        """
        if (
            self.call_key is None
            or self.problems
            or not self.from_memory
            or self.out.nbytes > setting("memory_cache_bytes") // 8
        ):
            return
        memo = _cache.memory_digests
        if all(k in memo for k in self.files):
            _cache.memory.put_many([(self.call_key, self.out.copy())])

    def _bad(self, rows, reason):
        self.problems.extend((describe(self.items[i], i), reason, i) for i in rows)

    def _identify(self, chunk):
        """``({i: digest}, {i: source}, {i: reason})``: a file's digest comes from the
        stat memo where it can (no source is made: the hot path), else from
        reading the file (which gives its source)."""
        memo = _cache.memory_digests
        items = self.items
        cap = setting("max_file_bytes")
        memo_get, crop_digest = memo.get, _images.crop_digest
        started = time.time()  # before any stat: see DigestMemo.trusted
        digests, sources, reasons = {}, {}, {}
        unknown = {}  # memo key -> rows
        stats_of = {}
        mkeys = None
        if self.stats is not None:  # recall stat-ed every file; a chunk with a bad one goes item by item
            started, sts = self.stats_started, self.stats[chunk.start : chunk.stop]
            if _all_usable(sts, cap):
                mkeys = self.files[chunk.start : chunk.stop]
        if mkeys is not None:
            found = [memo_get(k) for k in mkeys]
            if None not in found:  # the repeated warm call: this process knows every digest
                return dict(zip(chunk, found, strict=True)), sources, reasons
            for i, mkey, st, digest in zip(chunk, mkeys, sts, found, strict=True):
                if digest is None:
                    unknown.setdefault(mkey, []).append(i)
                    stats_of[mkey] = st
                else:
                    digests[i] = digest
            chunk = ()  # identified
        for i in chunk:
            item = items[i]
            if isinstance(item, str):
                path = item
            elif isinstance(item, ImageCrop):
                path = item.path
            elif isinstance(item, os.PathLike):
                path = os.fspath(item)
            else:
                try:
                    sources[i] = src = _images.read_source(item)
                    digests[i] = src.digest
                except _Bad as exc:
                    reasons[i] = str(exc)
                continue
            try:
                st = _images.file_stat(path)  # raises with the reason
            except _Bad as exc:
                reasons[i] = str(exc)
                continue
            mkey = memo_key(path, st)
            digest = memo_get(mkey)
            if digest is None:
                unknown.setdefault(mkey, []).append(i)
                stats_of[mkey] = st
            elif item.__class__ is ImageCrop:
                digests[i] = crop_digest(item.box, digest)
            else:
                digests[i] = digest
        if not unknown:
            return digests, sources, reasons
        if self.store is not None:
            mkeys = list(unknown)
            skeys = [stat_key(k[0], stats_of[k]) for k in mkeys]
            if self.mean_view is not None:
                # A new process: each file's digest and its stored mean in one query.
                found = self.store.get_many_by_file(skeys, self._mean_key(""), self.cols[1] - self.cols[0])
                for digest, row in found:
                    if row is not None:
                        self.prefetched[digest] = row
                found = [digest for digest, _ in found]
            else:
                found = self.store.digests.get_many(skeys)
            known = [(mkey, digest) for mkey, digest in zip(mkeys, found, strict=True) if digest is not None]
            _remember(known)
            for mkey, digest in known:
                for i in unknown.pop(mkey):
                    item = items[i]
                    digests[i] = crop_digest(item.box, digest) if isinstance(item, ImageCrop) else digest
        learned = []
        if unknown:
            self.did_io = True
        for mkey, rows in unknown.items():
            for i in rows:
                try:
                    src = sources[i] = _images.read_source(items[i])
                except _Bad as exc:
                    reasons[i] = str(exc)
                    continue
                digests[i] = src.digest
                if _cache.DigestMemo.trusted(stats_of[mkey], started):
                    learned.append((mkey, src.file_digest))
        _remember(learned)
        if learned and self.store is not None:
            self.store.digests.put_many((stat_key(k[0], stats_of[k]), d) for k, d in learned)
        return digests, sources, reasons

    def _file_digest(self, i):
        """The digest of row ``i``'s file, from the memo (it was found there)."""
        item = self.items[i]
        path = item.path if isinstance(item, ImageCrop) else os.fspath(item)
        try:
            return _cache.memory_digests[memo_key(path, os.stat(path))]
        except (KeyError, OSError):  # changed since it was identified, or the memo was cleared
            return None

    def _lookup(self, keys, remember=True):
        """Rows (only the kept columns) for ``keys``: process memory first, then one
        batched store query; ``None`` for misses."""
        if self.store is None:
            return [None] * len(keys)
        prefix, (a, b), width = self.memory_prefix, self.cols, self.width
        memory = _cache.memory
        wanted = [(prefix, k, a, b) for k in keys]
        rows = memory.get_many(wanted)
        absent = [j for j, row in enumerate(rows) if row is None]
        if absent and (a, b) != (0, width):  # rows computed in this process are held whole
            for j, row in zip(absent, memory.get_many([(prefix, keys[j], 0, width) for j in absent]), strict=True):
                if row is not None:
                    rows[j] = row[a:b]
            absent = [j for j in absent if rows[j] is None]
        if absent:
            self.from_memory = False
            if not isinstance(self.store, EmbeddingStore):
                self.did_io = True  # a shared store may fetch shards
            new = []
            for j, row in zip(absent, self.store.get_many([keys[j] for j in absent], width, cols=(a, b)), strict=True):
                if row is not None:
                    rows[j] = row
                    new.append((wanted[j], row))
            if remember:
                memory.put_many(new)
        return rows

    def probe(self, chunk):
        """Identify rows and look their views up; misses get a header check now so
        that a non-image fails before any forward pass is spent.

        Rows found are written to ``self.out``; returns ``(bad, misses)``:
        ``(i, reason)`` pairs and ``(i, source, views needed)`` for the rest.
        """
        digests, sources, reasons = self._identify(chunk)
        bad = list(reasons.items())
        n_views = len(self.views)
        if self.mean and self.store is not None and not bad and len(digests) == len(chunk):
            # The mean of the views: kept in memory for repeated calls, and read from
            # the store (one row per photo) in a new process.
            tag = self.mean_tag
            wanted = [(tag, digests[i]) for i in chunk]
            means = _cache.memory.get_many(wanted)
            absent = [k for k, m in enumerate(means) if m is None]
            if absent:
                self.from_memory = False
            if absent and self.mean_view is not None:
                prefetched, stored = self.prefetched, self.means_stored
                still = []
                for k in absent:
                    row = prefetched.pop(wanted[k][1], None)
                    if row is None:
                        still.append(k)
                    else:
                        means[k] = row
                if still:
                    a, b = self.cols
                    keys = [self._mean_key(wanted[k][1]) for k in still]
                    for k, row in zip(still, self.store.get_many(keys, b - a), strict=True):
                        means[k] = row
                # Read-only rows backed by the bytes SQLite gave: kept in memory as they are.
                new = [(wanted[k], means[k]) for k in absent if means[k] is not None]
                stored.update(key[1] for key, _ in new)
                _cache.memory.put_many(new)
            if all(m is not None for m in means):
                # Rows joined end to end into the chunk's (contiguous) rows: np.stack would
                # make a view of each row first.
                np.concatenate(means, out=self.out[0, chunk.start : chunk.stop].reshape(-1))
                return bad, []
        unique = list(dict.fromkeys(digests.values()))
        fingerprint, views = self.fingerprint, self.views
        # A mean's rows are not kept in memory one by one: the mean itself is.
        rows = self._lookup([f"{fingerprint}/{view}/{d}" for d in unique for view in views], remember=not self.mean)
        position = {d: k * n_views for k, d in enumerate(unique)}
        needs = {}  # digest -> views to compute, or the reason it is bad
        for d, k in position.items():
            got = rows[k : k + n_views]
            if any(row is None for row in got):
                needs[d] = [view for view, row in zip(views, got, strict=True) if row is None]
        miss_sources = {}  # digest -> the source to decode, header-checked
        for i, d in digests.items():
            if d not in needs or d in miss_sources or isinstance(needs[d], str):
                continue
            src = sources.get(i)
            try:
                if src is None:
                    file_digest = self._file_digest(i)
                    item = self.items[i]
                    src = _images.read_source(item) if file_digest is None else _images.file_source(item, file_digest)
                if src.data is None and src.path is not None:
                    self.did_io = True
                    src.data = _images._file_bytes(src)
                _images.check_header(src)
                miss_sources[d] = src
            except _Bad as exc:
                needs[d] = str(exc)
            if src is not None:
                src.data = None  # misses re-read (and re-verify) their bytes at decode time
        # Hits go straight into the output: rows of distinct items, so threads never overlap.
        out = self.out
        misses = []
        if out is not None and not needs and len(digests) == len(chunk):
            # Every row found (the warm path): C-level copies, one pass per view.
            dest = out[0, chunk.start : chunk.stop]
            if not self.mean:
                for v in range(n_views):
                    view_rows = [rows[position[digests[i]] + v] for i in chunk]
                    np.concatenate(view_rows, out=out[v, chunk.start : chunk.stop].reshape(-1))
            else:
                # Summed in view order, row by row: one pass over the rows read, no temporaries.
                add = np.add
                for k, i in enumerate(chunk):
                    first = position[digests[i]]
                    add(rows[first], rows[first + 1], out=dest[k])
                    for v in range(2, n_views):
                        dest[k] += rows[first + v]
                dest /= np.float32(n_views)
                if self.store is not None:
                    # One copy for the chunk: the memory holds views of it, one per row.
                    kept, tag = dest.copy(), self.mean_tag
                    _cache.memory.put_many(((tag, digests[i]), kept[k]) for k, i in enumerate(chunk))
                    self._store_means((digests[i], kept[k]) for k, i in enumerate(chunk))
            return bad, misses
        for i, d in digests.items():
            k = position[d]
            if out is not None and self.mean:
                self.parts[i] = (d, rows[k : k + n_views])
            elif out is not None:
                for v in range(n_views):
                    row = rows[k + v]
                    if row is not None:
                        out[v, i] = row
            need = needs.get(d)
            if isinstance(need, str):
                bad.append((i, need))
            elif need:
                misses.append((i, miss_sources[d], need))
        return bad, misses

    def finish(self):
        """Write the mean of the views for items whose rows were not all found at once."""
        scale = np.float32(len(self.views))
        means = []
        for i, (digest, got) in self.parts.items():
            total = got[0].copy()
            for row in got[1:]:
                total += row
            total /= scale
            self.out[0, i] = total
            means.append((digest, total))
        self.parts.clear()
        if self.store is not None:
            _cache.memory.put_many(((self.mean_tag, d), total) for d, total in means)
            self._store_means(means)

    def _store_means(self, pairs):
        """Store the means of the views the store does not have yet (local stores)."""
        if self.mean_view is None:
            return
        new = {d: row for d, row in pairs if d not in self.means_stored}
        if new:
            self.store.put_many((self._mean_key(d), row) for d, row in new.items())
            self.means_stored.update(new)

    def _mean_key(self, digest):
        """The store key of a photo's mean of the views (local stores)."""
        return EmbeddingStore.key(self.fingerprint, self.mean_view, digest)

    def collect(self, results):
        bad, misses = results
        for i, reason in bad:
            self._bad([i], reason)
        for i, src, need in misses:
            digest = src.digest
            self.pending.setdefault(digest, []).append(i)
            self.sources.setdefault(digest, src)
            self.missing.setdefault(digest, need)

    def _decode(self, digest):
        t = time.perf_counter()
        try:
            return _images.decode_views(self.sources[digest], self.backbone.input_size, self.missing[digest]), None
        except _Bad as exc:
            return None, str(exc)
        finally:
            stats.add(seconds_decode=time.perf_counter() - t)

    def check_pending(self, pool):
        digests = list(self.pending)
        for digest, (_, reason) in zip(digests, pool.map(self._decode, digests), strict=True):
            if reason is not None:
                self._bad(self.pending[digest], reason)

    def compute(self, pool, batch_size, lookahead, verbose):
        """Decode misses ahead in ``pool`` while the main thread runs the forward passes."""
        from tqdm.auto import tqdm

        runner = get_runner(self.backbone, self.weights, self.precision)
        size = self.backbone.input_size
        digests = list(self.pending)
        n_samples = sum(len(self.missing[d]) for d in digests)
        # One fixed batch shape per call: no retracing, and a handful of
        # images does not pay for a full batch of padding.
        step = min(batch_size, 1 << max(0, (n_samples - 1).bit_length()))
        lookahead = max(2 * step, lookahead)
        batch = np.zeros((step, size, size, 3), dtype=np.uint8)
        batch_keys = []  # (digest, view index) of each filled batch slot
        ready = collections.deque()  # decoded (digest, view index, pixels) not yet in a batch
        futures = collections.deque()
        submitted = 0
        view_index = {v: k for k, v in enumerate(self.views)}
        prefix = self.memory_prefix
        bar = tqdm(
            total=n_samples,
            desc=f"{self.backbone.name} ({', '.join(self.views)})",
            unit="img",
            disable=not verbose,
            leave=False,
        )
        try:
            while submitted < len(digests) or futures or ready or batch_keys:
                while submitted < len(digests) and len(futures) < lookahead:
                    futures.append((digests[submitted], pool.submit(self._decode, digests[submitted])))
                    submitted += 1
                if not ready and futures:
                    digest, future = futures.popleft()
                    pixels, reason = future.result()
                    if reason is not None:
                        self._bad(self.pending[digest], reason)
                        bar.update(len(self.missing[digest]))
                    else:
                        ready.extend((digest, view_index[v], arr) for v, arr in pixels.items())
                while ready and len(batch_keys) < step:
                    digest, v, arr = ready.popleft()
                    batch[len(batch_keys)] = arr
                    batch_keys.append((digest, v))
                if batch_keys and (len(batch_keys) == step or not (futures or ready)):
                    rows = runner.forward(batch, len(batch_keys))
                    keys = [EmbeddingStore.key(self.fingerprint, self.views[v], d) for d, v in batch_keys]
                    if self.out is not None:
                        for (digest, v), row in zip(batch_keys, rows, strict=True):
                            if self.mean:
                                for i in self.pending[digest]:
                                    self.parts[i][1][v] = row[self.keep]
                            else:
                                self.out[v, self.pending[digest]] = row[self.keep]
                    if self.store is not None:
                        t = time.perf_counter()
                        self.store.put_many(zip(keys, rows, strict=True))
                        stats.add(seconds_store=time.perf_counter() - t)
                        _cache.memory.put_many(
                            [((prefix, k, 0, self.width), row.copy()) for k, row in zip(keys, rows, strict=True)]
                        )
                    bar.update(len(batch_keys))
                    batch_keys = []
        finally:
            for _, future in futures:
                future.cancel()
            bar.close()


class _CallKey:
    """The memory key of a call's output: its ``tag`` and every file's memo key, with
    the hash computed once (a tuple of thousands of tuples hashes them all each time)."""

    __slots__ = ("tag", "files", "_hash")

    def __init__(self, tag, files):
        self.tag, self.files, self._hash = tag, files, hash((tag, files))

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        if other.__class__ is not _CallKey or self._hash != other._hash:
            return False
        return self.tag == other.tag and self.files == other.files


def _all_str(items):
    """Whether every item is a ``str`` (numpy's ``str_`` included), by type, not item by item."""
    return all(issubclass(t, str) for t in set(map(type, items)))


def _all_usable(sts, cap):
    """Whether all are regular files under ``cap`` bytes and not empty: the bulk form of
    :func:`skcatdog._images.file_stat`'s check (checked memoised or not: a cap lowered
    since a file was read refuses it in this process as in a new one)."""
    return all(S_ISREG(st.st_mode) and 0 < st.st_size <= cap for st in sts)


def _remember(pairs):
    """Keep ``(memo key, digest)`` pairs in this process's memo (cleared when full)."""
    memo = _cache.memory_digests
    if len(memo) + len(pairs) > _cache.MEMORY_DIGESTS_MAX:
        memo.clear()
    memo.update(pairs)
