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
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np

from . import _images
from ._cache import EmbeddingStore, model_fingerprint, open_store, resolve_cache_dir
from ._images import ImageLoadError, _Bad, describe
from .backbones import PREPROCESSING, get_backbone

__all__ = ["embed", "Rows", "stats", "get_runner", "PRECISIONS"]

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
        stats.add(models_built=1)

    def forward(self, batch, n_real=None):
        """``(b, size, size, 3)`` uint8 -> float32 ``(n_real, dim + n_classes)``.

        Rows past ``n_real`` are padding that keeps the batch shape fixed.
        """
        n_real = len(batch) if n_real is None else n_real
        with self.lock:
            embedding, logits = self.model.predict_on_batch(batch)
        stats.add(images_forwarded=n_real)
        return np.concatenate([np.asarray(embedding[:n_real], np.float32), np.asarray(logits[:n_real], np.float32)], axis=1)


_RUNNERS: dict[tuple, _Runner] = {}
_RUNNERS_LOCK = threading.Lock()


def get_runner(backbone, weights, precision):
    """The process-wide runner for this model; built once, never pickled."""
    backbone = get_backbone(backbone)
    key = (backbone.name, backbone.weights_identity(weights), precision)
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


def embed(
    items,
    backbone,
    weights="imagenet",
    *,
    view="crop",
    batch_size=64,
    cache="auto",
    n_jobs=-1,
    precision="auto",
    verbose=0,
    outputs=("embeddings", "logits"),
):
    """Rows of (embedding, logits) for ``items``, from the cache or one forward pass.

    Parameters
    ----------
    items : sequence of str, path-like or ndarray
        Validated by the caller to be one-dimensional.
    backbone : str or Backbone
    weights : "imagenet", path or None
    view : {"crop", "crop_mirror", "full", "mirror"}
    batch_size : int
    cache : "auto", None or path
    n_jobs : int
        Decode threads, joblib convention (-1 = all cores).
    precision : {"auto", "float32", "mixed"}
    verbose : int
    outputs : tuple of {"embeddings", "logits"}
        Which parts to return (the cache always stores both); asking for
        embeddings alone saves the memory of 1000 logits per image.

    Returns
    -------
    Rows
        With ``None`` for a part not asked for.

    Raises
    ------
    ImageLoadError
        Naming every bad item.  Good items computed in the same call are
        cached before it is raised; nothing is ever cached for a bad one.
    """
    from joblib import effective_n_jobs

    if view not in _images.VIEWS:
        raise ValueError(f"view must be one of {_images.VIEWS}, got {view!r}")
    backbone = get_backbone(backbone)
    dim = backbone.embedding_dim
    if not outputs or set(outputs) - {"embeddings", "logits"}:
        raise ValueError(f"outputs must name 'embeddings' and/or 'logits', got {outputs!r}")
    keep = slice(0 if "embeddings" in outputs else dim, None if "logits" in outputs else dim)
    call = _Call(list(items), backbone, weights, resolve_precision(precision), view, cache, keep)
    threads = max(1, effective_n_jobs(n_jobs))
    with ThreadPoolExecutor(max_workers=threads) as pool:
        for results in pool.map(call.probe, _chunks(len(call.items), 64)):
            call.collect(results)
        if call.problems:
            # Name every bad item, not just the first kind found: decode the
            # remaining misses too (no forward pass) to find truncated data.
            call.check_pending(pool)
        elif call.pending:
            call.compute(pool, batch_size, lookahead=2 * threads, verbose=verbose)
    if call.problems:
        call.problems.sort(key=lambda p: p[2])
        raise ImageLoadError([(name, reason) for name, reason, _ in call.problems])
    # call.out holds only the kept columns: embeddings first (if kept), then logits.
    return Rows(
        embeddings=np.ascontiguousarray(call.out[:, :dim]) if "embeddings" in outputs else None,
        logits=np.ascontiguousarray(call.out[:, dim - keep.start :]) if "logits" in outputs else None,
    )


class _Call:
    """The state of one :func:`embed` call: which rows are hits, misses or bad."""

    def __init__(self, items, backbone, weights, precision, view, cache, keep):
        self.items, self.backbone, self.weights, self.precision, self.view = items, backbone, weights, precision, view
        self.width = backbone.embedding_dim + backbone.n_classes
        self.keep = keep  # the columns of a cached row that the caller wants
        self.out = np.empty((len(items), len(range(self.width)[keep])), dtype=np.float32)
        cache_dir = resolve_cache_dir(cache)
        self.store = open_store(cache_dir) if cache_dir is not None else None
        self.fingerprint = fingerprint(backbone, weights, precision)
        self.problems = []  # (item name, reason, row index)
        self.pending = {}  # cache key -> rows waiting for it, first-seen order
        self.sources = {}  # cache key -> source to decode

    def _bad(self, rows, reason):
        self.problems.extend((describe(self.items[i], i), reason, i) for i in rows)

    def probe(self, chunk):
        """Read, digest and look up rows; misses get a header check now so
        that a non-image fails before any forward pass is spent."""
        results = []
        for i in chunk:
            try:
                src = _images.read_source(self.items[i])
                key = EmbeddingStore.key(self.fingerprint, self.view, src.digest)
                row = self.store.get(key, self.width) if self.store is not None else None
                if row is None:
                    _images.check_header(src)
                src.data = None  # misses re-read (and re-verify) their bytes at decode time
                results.append((i, key, src, row, None))
            except _Bad as exc:
                results.append((i, None, None, None, str(exc)))
        return results

    def collect(self, results):
        for i, key, src, row, reason in results:
            if reason is not None:
                self._bad([i], reason)
            elif row is not None:
                self.out[i] = row[self.keep]
            else:
                self.pending.setdefault(key, []).append(i)
                self.sources.setdefault(key, src)

    def _decode(self, key):
        try:
            return _images.decode(self.sources[key], self.backbone.input_size, self.view), None
        except _Bad as exc:
            return None, str(exc)

    def check_pending(self, pool):
        keys = list(self.pending)
        for key, (_, reason) in zip(keys, pool.map(self._decode, keys)):
            if reason is not None:
                self._bad(self.pending[key], reason)

    def compute(self, pool, batch_size, lookahead, verbose):
        """Decode misses ahead in ``pool`` while the main thread runs the forward passes."""
        from tqdm.auto import tqdm

        runner = get_runner(self.backbone, self.weights, self.precision)
        size = self.backbone.input_size
        keys = list(self.pending)
        # One fixed batch shape per call: no retracing, and a handful of
        # images does not pay for a full batch of padding.
        step = min(batch_size, 1 << max(0, (len(keys) - 1).bit_length()))
        lookahead = max(2 * step, lookahead)
        batch = np.zeros((step, size, size, 3), dtype=np.uint8)
        batch_keys = []
        futures = collections.deque()
        submitted = 0
        bar = tqdm(total=len(keys), desc=f"{self.backbone.name} ({self.view})", unit="img", disable=not verbose, leave=False)
        try:
            while submitted < len(keys) or futures or batch_keys:
                while submitted < len(keys) and len(futures) < lookahead:
                    futures.append((keys[submitted], pool.submit(self._decode, keys[submitted])))
                    submitted += 1
                if futures:
                    key, future = futures.popleft()
                    pixels, reason = future.result()
                    if reason is not None:
                        self._bad(self.pending[key], reason)
                        bar.update(1)
                    else:
                        batch[len(batch_keys)] = pixels
                        batch_keys.append(key)
                if batch_keys and (len(batch_keys) == step or not futures):
                    rows = runner.forward(batch, len(batch_keys))
                    for key, row in zip(batch_keys, rows):
                        self.out[self.pending[key]] = row[self.keep]
                    if self.store is not None:
                        self.store.put_many(zip(batch_keys, rows))
                    bar.update(len(batch_keys))
                    batch_keys = []
        finally:
            for _, future in futures:
                future.cancel()
            bar.close()
